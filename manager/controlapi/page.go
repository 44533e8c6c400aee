package controlapi

import (
	"encoding/base64"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
)

// PageBytes is the most one List answer carries: half of gRPC's default
// 4 MiB receive limit, so a page of the largest objects (a spec may reach
// MaxSpecBytes) still fits with room for the envelope. A list is cut into
// pages by count and by these bytes, so no list fails by size, however many
// tasks there are.
const PageBytes = 2 << 20

// listPage sorts items by key (unique per item) and returns those after
// token, at most size of them (0: no count limit) and at most PageBytes
// unless a single item is bigger, with the token of the next page ("" on
// the last one).
func listPage[T proto.Message](items []T, key func(T) string, size uint32, token string) ([]T, string, error) {
	after := ""
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(b) == 0 {
			return nil, "", errdefs.InvalidArgument("invalid page token: pass the next_page_token of the previous page")
		}
		after = string(b)
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	if token == "" {
		start = 0
	}
	bytes := 0
	end := start
	for end < len(items) {
		n := proto.Size(items[end]) + 8 // tag and length of the repeated field
		if end > start && ((size > 0 && uint32(end-start) >= size) || bytes+n > PageBytes) {
			break
		}
		bytes += n
		end++
	}
	out := items[start:end]
	if end == len(items) || end == start {
		return out, "", nil
	}
	return out, base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1]))), nil
}
