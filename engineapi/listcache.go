package engineapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
)

// listCache keeps the JSON answers of list calls by request (API version
// and query), each with the store version it was read at. An answer is
// reused only after the Control API has said, in a read of its own (with
// the leader's checks of any read), that the store is still at that
// version: a cached list is never staler than a fresh one would be.
type listCache struct {
	mu      sync.Mutex
	entries map[string]cachedList
}

type cachedList struct {
	version uint64
	body    []byte
}

// maxCachedLists bounds the cache: docker's clients ask for few distinct
// lists; past this many, it starts over.
const maxCachedLists = 64

func (c *listCache) get(key string) (cachedList, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e, ok
}

func (c *listCache) put(key string, version uint64, body []byte) {
	if version == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedLists {
		c.entries = map[string]cachedList{}
	}
	c.entries[key] = cachedList{version: version, body: body}
}

// encodeJSON is v as writeJSON writes it.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeBody(w http.ResponseWriter, status int, body []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
