package containerd

import (
	"bytes"
	"io"
	"os"
)

// rotatedLogs are the rotated parts of the log at path (path.N ... path.1),
// oldest first.
func rotatedLogs(path string) []string {
	var out []string
	for i := 1; ; i++ {
		p := rotatedName(path, i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		out = append([]string{p}, out...)
	}
	return out
}

// writeWithRotated writes the rotated parts and then cur (read to its
// end), keeping the last tail lines when tail >= 0. A rotated log is
// bounded by max-size × max-file, so it is read whole.
func writeWithRotated(w io.Writer, old []string, cur *os.File, tail int) error {
	var all bytes.Buffer
	for _, p := range old {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		all.Write(b)
	}
	if _, err := all.ReadFrom(cur); err != nil {
		return err
	}
	data := all.Bytes()
	if tail >= 0 {
		data = lastLines(data, tail)
	}
	_, err := w.Write(data)
	return err
}

// lastLines is the last n lines of data; a final line without a newline
// counts as a line.
func lastLines(data []byte, n int) []byte {
	if n == 0 {
		return nil
	}
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	seen := 0
	for i := end - 1; i >= 0; i-- {
		if data[i] == '\n' {
			seen++
			if seen == n {
				return data[i+1:]
			}
		}
	}
	return data
}

// followRotation copies what f has gained to w; if the log was rotated
// meanwhile (path is another file now), it finishes f and goes on with the
// new file.
func followRotation(w io.Writer, f *os.File, path string) (*os.File, error) {
	if _, err := io.Copy(w, f); err != nil {
		return f, err
	}
	now, err := os.Stat(path)
	if err != nil {
		return f, nil // between rename and create: look again next time
	}
	was, err := f.Stat()
	if err != nil || os.SameFile(now, was) {
		return f, err
	}
	nf, err := os.Open(path)
	if err != nil {
		return f, nil
	}
	if _, err := io.Copy(w, f); err != nil {
		nf.Close()
		return f, err
	}
	f.Close()
	return nf, nil
}
