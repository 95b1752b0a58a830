package catalog

import (
	"encoding/json"
	"fmt"
)

// SnapshotVersion is the version EncodeSnapshot writes.
const SnapshotVersion = 2

// snapshotJSON is catalog.json (docs/format/catalog.md).
type snapshotJSON struct {
	Version      int          `json:"version"`
	AppliedIndex *uint64      `json:"applied_index,omitempty"` // absent in version 1
	Tenants      []string     `json:"tenants"`
	Databases    []Database   `json:"databases"`
	Collections  []Collection `json:"collections"`
}

// EncodeSnapshot returns the whole state as a version-2 catalog.json, with
// its applied index. The encoding is deterministic: equal states give equal
// bytes.
func EncodeSnapshot(s *State) []byte {
	applied := s.applied
	snap := snapshotJSON{
		Version: SnapshotVersion, AppliedIndex: &applied,
		Tenants: s.Tenants(), Databases: s.Databases(""), Collections: s.Collections("", ""),
	}
	b, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		panic("BUG: catalog: encode snapshot: " + err.Error())
	}
	return append(b, '\n')
}

// DecodeSnapshot reads a catalog.json of version 1 (applied index 0) or 2
// and returns the state and the version read. A snapshot that breaks the
// catalog's rules (a duplicate, a collection without its database) is an
// error, as is an unknown version.
func DecodeSnapshot(b []byte) (*State, int, error) {
	var snap snapshotJSON
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, 0, fmt.Errorf("catalog snapshot is corrupt: %w", err)
	}
	switch snap.Version {
	case 1:
		if snap.AppliedIndex != nil {
			return nil, 0, fmt.Errorf("catalog snapshot version 1 has an applied_index")
		}
	case 2:
		if snap.AppliedIndex == nil {
			return nil, 0, fmt.Errorf("catalog snapshot version 2 has no applied_index")
		}
	default:
		return nil, 0, fmt.Errorf("catalog snapshot: unknown version %d", snap.Version)
	}
	s := New()
	for _, t := range snap.Tenants {
		if t == "" || s.HasTenant(t) {
			return nil, 0, fmt.Errorf("catalog snapshot: tenant %q is empty or listed twice", t)
		}
		s.tenants[t] = struct{}{}
	}
	for _, d := range snap.Databases {
		sc := Scope{d.Tenant, d.Name}
		if _, dup := s.databases[sc]; dup || !s.HasTenant(d.Tenant) || d.Name == "" {
			return nil, 0, fmt.Errorf("catalog snapshot: database %q in tenant %q is listed twice, unnamed or has no tenant", d.Name, d.Tenant)
		}
		s.databases[sc] = d
	}
	for i := range snap.Collections {
		row := snap.Collections[i]
		sc := Scope{row.Tenant, row.Database}
		if _, ok := s.databases[sc]; !ok {
			return nil, 0, fmt.Errorf("catalog snapshot: collection %q (%s) is in missing database %q of tenant %q", row.Name, row.ID, row.Database, row.Tenant)
		}
		_, dupID := s.colls[row.ID]
		_, dupName := s.names[sc][row.Name]
		if row.ID == "" || row.Name == "" || dupID || dupName {
			return nil, 0, fmt.Errorf("catalog snapshot: collection %q (%s) is listed twice or lacks a name or id", row.Name, row.ID)
		}
		if len(row.Metadata) == 0 {
			row.Metadata = nil
		}
		if len(row.UnindexedKeys) == 0 {
			row.UnindexedKeys = nil
		}
		s.colls[row.ID] = &row
		if s.names[sc] == nil {
			s.names[sc] = map[string]string{}
		}
		s.names[sc][row.Name] = row.ID
	}
	if snap.AppliedIndex != nil {
		s.applied = *snap.AppliedIndex
	}
	return s, snap.Version, nil
}
