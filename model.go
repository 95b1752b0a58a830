package sextant

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// MetadataModelKey is the collection metadata key that pins the embedding
// model, as Chroma users set it: metadata={"embedding_model":
// "text-embedding-3-small-2025-01"} (NAME[@VERSION]).
const MetadataModelKey = "embedding_model"

// maxModelName bounds a model name or version, in bytes.
const maxModelName = 256

// ModelPin pins the embedding model that produced a collection's vectors:
// its name, an optional version, and the dimension of its vectors (the
// collection's dimension). A request that declares another model is refused
// with ErrModelMismatch (see WithEmbeddingModel), so that vectors of a new
// model version cannot drift into a collection unnoticed.
type ModelPin struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Dimension int    `json:"dimension,omitempty"` // 0: the collection's, once fixed
}

// IsZero reports an unset pin.
func (p ModelPin) IsZero() bool { return p.Name == "" }

// String is NAME or NAME@VERSION.
func (p ModelPin) String() string {
	if p.Version == "" {
		return p.Name
	}
	return p.Name + "@" + p.Version
}

// ParseModelPin parses NAME[@VERSION] (the form of the
// x-sextant-embedding-model header and of the embedding_model metadata key);
// the version is what follows the last "@". Surrounding spaces are trimmed.
func ParseModelPin(s string) (ModelPin, error) {
	s = strings.TrimSpace(s)
	var p ModelPin
	if i := strings.LastIndexByte(s, '@'); i > 0 { // a leading @ is part of the name (@cf/baai/bge-base-en-v1.5)
		p.Name, p.Version = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		if p.Version == "" {
			return ModelPin{}, fmt.Errorf("%w: embedding model %q: empty version after @ (NAME or NAME@VERSION)", ErrInvalidArgument, s)
		}
	} else {
		p.Name = s
	}
	return p, p.validate()
}

func (p ModelPin) validate() error {
	if p.Name == "" {
		return fmt.Errorf("%w: embedding model name is empty (NAME or NAME@VERSION)", ErrInvalidArgument)
	}
	for _, f := range []struct{ what, v string }{{"name", p.Name}, {"version", p.Version}} {
		if len(f.v) > maxModelName {
			return fmt.Errorf("%w: embedding model %s is %d bytes, over %d", ErrInvalidArgument, f.what, len(f.v), maxModelName)
		}
		if strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return fmt.Errorf("%w: embedding model %s %q has control characters", ErrInvalidArgument, f.what, f.v)
		}
	}
	if p.Version == "" && strings.LastIndexByte(p.Name, '@') > 0 {
		return fmt.Errorf("%w: embedding model name %q has an @ but no version: it would read as NAME@VERSION; give the version too", ErrInvalidArgument, p.Name)
	}
	if p.Dimension < 0 || p.Dimension > 65536 {
		return fmt.Errorf("%w: embedding model dimension %d out of range [1, 65536]", ErrInvalidArgument, p.Dimension)
	}
	return nil
}

// accepts reports whether a request that declares model d may use a
// collection pinned to p: the names must be equal and, when the pin has a
// version, the declaration must carry the same one (a pin without a version
// accepts any version of its model); a declared dimension must be the
// pin's. The error wraps ErrModelMismatch and names both.
func (p ModelPin) accepts(d ModelPin) error {
	switch {
	case p.IsZero() || d.IsZero():
		return nil
	case d.Name != p.Name:
	case p.Version != "" && d.Version == "":
		return fmt.Errorf("%w: the collection is pinned to embedding model %q and the request declares %q without a version: declare %q",
			ErrModelMismatch, p.String(), d.String(), p.String())
	case p.Version != "" && d.Version != p.Version:
	case d.Dimension != 0 && p.Dimension != 0 && d.Dimension != p.Dimension:
		return fmt.Errorf("%w: the collection is pinned to embedding model %q of dimension %d, the request declares dimension %d",
			ErrModelMismatch, p.String(), p.Dimension, d.Dimension)
	default:
		return nil
	}
	return fmt.Errorf("%w: the request declares embedding model %q, the collection is pinned to %q: embed with the pinned model, "+
		"or re-index into a collection pinned to the new one", ErrModelMismatch, d.String(), p.String())
}

type modelKey struct{}

// WithEmbeddingModel returns a context declaring that the vectors of the
// calls made with it (writes and queries) come from model m. A collection
// pinned to another model refuses such a call with ErrModelMismatch; an
// unpinned collection accepts it. The HTTP API sets it from the
// x-sextant-embedding-model header.
func WithEmbeddingModel(ctx context.Context, m ModelPin) context.Context {
	return context.WithValue(ctx, modelKey{}, m)
}

// EmbeddingModelFrom returns the model ctx declares, if any.
func EmbeddingModelFrom(ctx context.Context) (ModelPin, bool) {
	m, ok := ctx.Value(modelKey{}).(ModelPin)
	return m, ok && !m.IsZero()
}

// CheckModel returns ErrModelMismatch when ctx declares another embedding
// model than the collection's pin (WithEmbeddingModel), nil otherwise.
// Writes and queries check it themselves; an API layer calls it first, so
// that a client on another model learns that rather than, say, that its
// vectors have another dimension.
func (c *Collection) CheckModel(ctx context.Context) error { return c.checkModel(ctx) }

// checkModel refuses a call whose context declares another model than the
// collection's pin.
func (c *Collection) checkModel(ctx context.Context) error {
	d, ok := EmbeddingModelFrom(ctx)
	if !ok {
		return nil
	}
	p := c.pin.Load()
	if p == nil {
		return nil
	}
	return p.accepts(d)
}

// pinFromMetadata reads the embedding_model metadata key: a string
// NAME[@VERSION]; absent gives the zero pin.
func pinFromMetadata(md Metadata) (ModelPin, error) {
	v, ok := md[MetadataModelKey]
	if !ok || v == nil {
		return ModelPin{}, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return ModelPin{}, fmt.Errorf("%w: collection metadata %s has type %T, want a string NAME[@VERSION]", ErrInvalidArgument, MetadataModelKey, v)
	}
	p, err := ParseModelPin(s)
	if err != nil {
		return ModelPin{}, fmt.Errorf("collection metadata %s: %w", MetadataModelKey, err)
	}
	return p, nil
}

// PinFromEmbeddingFunction reads a pin from Chroma's embedding_function
// configuration ({"type": "known", "name": "openai", "config":
// {"model_name": "text-embedding-3-small", "dimensions": 512}}): the
// model_name (with an optional "model_version" or "revision" as the
// version) and the dimension. A configuration without a model_name (the
// JS client's default {"name": "default", "config": {}}) pins nothing.
func PinFromEmbeddingFunction(raw string) (ModelPin, error) {
	if raw == "" {
		return ModelPin{}, nil
	}
	var ef struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(raw), &ef); err != nil {
		return ModelPin{}, fmt.Errorf("%w: embedding function configuration: %v", ErrInvalidArgument, err)
	}
	name, _ := ef.Config["model_name"].(string)
	if name == "" {
		return ModelPin{}, nil
	}
	p := ModelPin{Name: name}
	for _, k := range []string{"model_version", "revision"} {
		if v, ok := ef.Config[k].(string); ok && v != "" {
			p.Version = v
			break
		}
	}
	if d, ok := ef.Config["dimensions"].(float64); ok && d == float64(int(d)) {
		p.Dimension = int(d)
	}
	if err := p.validate(); err != nil {
		return ModelPin{}, fmt.Errorf("embedding function configuration: %w", err)
	}
	return p, nil
}

// resolvePin merges the pins a creation or a change gives: the explicit
// ones (the Go field, the metadata key) must agree; Chroma's embedding
// function (ef) describes the client's function and only fills in what they
// leave out, or pins alone.
func resolvePin(ef ModelPin, explicit ...ModelPin) (ModelPin, error) {
	var out ModelPin
	for _, p := range explicit {
		switch {
		case p.IsZero():
		case out.IsZero():
			out = p
		case p.Name != out.Name || p.Version != "" && out.Version != "" && p.Version != out.Version ||
			p.Dimension != 0 && out.Dimension != 0 && p.Dimension != out.Dimension:
			return ModelPin{}, fmt.Errorf("%w: the embedding model is given twice, as %q and %q", ErrInvalidArgument, out.String(), p.String())
		default:
			if out.Version == "" {
				out.Version = p.Version
			}
			if out.Dimension == 0 {
				out.Dimension = p.Dimension
			}
		}
	}
	switch {
	case out.IsZero():
		return ef, nil
	case ef.Name == out.Name:
		if out.Version == "" {
			out.Version = ef.Version
		}
		if out.Dimension == 0 {
			out.Dimension = ef.Dimension
		}
	}
	return out, nil
}
