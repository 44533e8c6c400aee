package allocator

import "testing"

// A subnet a user mistyped is explained in one line of their words, not
// netip's internals.
func TestBadSubnetsAreExplained(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.300.0/24", `invalid subnet "10.0.300.0/24": 300 is not a valid IPv4 octet`},
		{"10.0.1.0", `invalid subnet "10.0.1.0": want an address and a prefix length, such as 10.0.9.0/24`},
		{"10.0.1/24", `invalid subnet "10.0.1/24": "10.0.1" is not an IPv4 address (four numbers from 0 to 255, separated by dots)`},
		{"10.0.x.0/24", `invalid subnet "10.0.x.0/24": x is not a number`},
		{"10.0.1.0/40", `invalid subnet "10.0.1.0/40": "40" is not a prefix length (a number from 0 to 32)`},
		{"10.0.01.0/24", `invalid subnet "10.0.01.0/24": 01 has a leading zero`},
		{"10..1.0/24", `invalid subnet "10..1.0/24": "10..1.0" has an empty octet`},
		{"10.0.1.0/12", "invalid subnet 10.0.1.0/12: the prefix length must be between /16 and /30"},
	} {
		_, err := ParseSubnet(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v\nwant %s", tc.in, err, tc.want)
		}
	}
	if p, err := ParseSubnet("10.0.9.0/24"); err != nil || p.String() != "10.0.9.0/24" {
		t.Errorf("a good subnet: %v %v", p, err)
	}
}
