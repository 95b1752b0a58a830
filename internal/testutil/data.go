package testutil

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
)

// DataDir returns the directory holding the shared real data sets. It looks
// at $SEXTANT_DATA, then for shared/data beside each parent of the module
// root, then /work/shared/data. It returns an error naming every place tried
// when none holds the data, so a test fails with a clear message instead of
// silently skipping.
func DataDir() (string, error) {
	var tried []string
	if d := os.Getenv("SEXTANT_DATA"); d != "" {
		if isDataDir(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for i := 0; i < 8; i++ {
		cand := filepath.Join(dir, "shared", "data")
		if isDataDir(cand) {
			return cand, nil
		}
		tried = append(tried, cand)
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	const fallback = "/work/shared/data"
	if isDataDir(fallback) {
		return fallback, nil
	}
	tried = append(tried, fallback)
	return "", fmt.Errorf("shared data sets not found (set SEXTANT_DATA); tried %v", tried)
}

func isDataDir(d string) bool {
	_, err := os.Stat(filepath.Join(d, "glove-twitter-25.base.fvecs"))
	return err == nil
}

// Dataset is one of the shared data sets, loaded in memory.
type Dataset struct {
	Name    string
	Metric  string // cosine, l2 or ip
	Dim     int
	Base    [][]float32
	Queries [][]float32
	GT      [][]int32 // for each query, its exact 100 nearest base rows
}

// Metrics of the shared data sets (from their README).
var datasetMetric = map[string]string{
	"wordnet-use512":    "cosine",
	"glove-twitter-25":  "cosine",
	"fashion-mnist-784": "l2",
}

// LoadDataset loads NAME.{base,query}.fvecs and NAME.gt.ivecs. maxBase > 0
// keeps only the first maxBase base rows; the ground truth then no longer
// applies and GT is nil (callers compute exact truth themselves).
func LoadDataset(name string, maxBase int) (*Dataset, error) {
	dir, err := DataDir()
	if err != nil {
		return nil, err
	}
	base, err := ReadFvecs(filepath.Join(dir, name+".base.fvecs"))
	if err != nil {
		return nil, err
	}
	qs, err := ReadFvecs(filepath.Join(dir, name+".query.fvecs"))
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: name, Metric: datasetMetric[name], Dim: len(base[0]), Base: base, Queries: qs}
	if maxBase > 0 && maxBase < len(base) {
		ds.Base = base[:maxBase]
		return ds, nil
	}
	ds.GT, err = ReadIvecs(filepath.Join(dir, name+".gt.ivecs"))
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// ReadFvecs reads a .fvecs file: per vector an int32 dimension then that many
// little-endian float32 values.
func ReadFvecs(path string) ([][]float32, error) {
	rows, err := readVecs(path)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(rows))
	for i, r := range rows {
		v := make([]float32, len(r))
		for j, u := range r {
			v[j] = math.Float32frombits(u)
		}
		out[i] = v
	}
	return out, nil
}

// ReadIvecs reads a .ivecs file (the int32 twin of fvecs).
func ReadIvecs(path string) ([][]int32, error) {
	rows, err := readVecs(path)
	if err != nil {
		return nil, err
	}
	out := make([][]int32, len(rows))
	for i, r := range rows {
		v := make([]int32, len(r))
		for j, u := range r {
			v[j] = int32(u)
		}
		out[i] = v
	}
	return out, nil
}

func readVecs(path string) ([][]uint32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows [][]uint32
	for off := 0; off < len(b); {
		if off+4 > len(b) {
			return nil, fmt.Errorf("%s: truncated header at offset %d", path, off)
		}
		d := int(int32(binary.LittleEndian.Uint32(b[off:])))
		off += 4
		if d <= 0 || off+4*d > len(b) {
			return nil, fmt.Errorf("%s: bad dimension %d at offset %d", path, d, off-4)
		}
		r := make([]uint32, d)
		for j := range r {
			r[j] = binary.LittleEndian.Uint32(b[off+4*j:])
		}
		off += 4 * d
		rows = append(rows, r)
	}
	return rows, nil
}

// RecallAtK returns |got ∩ truth[:k]| / k.
func RecallAtK[T, U int32 | uint32 | int](got []T, truth []U, k int) float64 {
	if k > len(truth) {
		k = len(truth)
	}
	want := make(map[int]struct{}, k)
	for _, t := range truth[:k] {
		want[int(t)] = struct{}{}
	}
	hit := 0
	for i, g := range got {
		if i >= k {
			break
		}
		if _, ok := want[int(g)]; ok {
			hit++
		}
	}
	return float64(hit) / float64(k)
}
