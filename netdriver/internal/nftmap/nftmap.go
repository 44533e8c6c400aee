// Package nftmap makes the one kind of nftables map google/nftables cannot
// declare as nft itself would: a map to marks, with the data byte order in
// its user data, so that `nft list ruleset` prints the marks the kernel
// uses. Both lb backends keep their VIP -> mark map this way
// ({ ipv4_addr : mark }), and the ingress_sbox its port -> mark map
// ({ inet_proto . inet_service : mark }).
package nftmap

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/binaryutil"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The map's user data, as nft writes it for `type ipv4_addr : mark`: key in
// network order, data in host order. The kernel never reads it; nft does,
// to print the elements, and without the data byte order it prints a mark
// of 0x106 as 0x06010000 (google/nftables cannot set it, so this file makes
// the one map that needs it).
const (
	udataKeyByteOrder  = 0 // NFTNL_UDATA_SET_KEYBYTEORDER
	udataDataByteOrder = 1 // NFTNL_UDATA_SET_DATABYTEORDER
	byteOrderHost      = 1 // BYTEORDER_HOST_ENDIAN
	byteOrderBig       = 2 // BYTEORDER_BIG_ENDIAN

	nftTypeIPv4Addr    = 7  // ipv4_addr
	nftTypeMark        = 19 // mark
	nftTypeInetProto   = 12 // inet_proto
	nftTypeInetService = 13 // inet_service
	concatTypeBits     = 6  // a concatenation's type is its parts' types, 6 bits each

	nftaSetDescConcat = 2 // NFTA_SET_DESC_CONCAT
	nftSetConcat      = 0x80
)

// Key is a map's key type as the kernel is told it: its type number, its
// length, and for a concatenation the length of each part (nft lists a
// concatenated map's elements by them).
type Key struct {
	Type  uint32
	Len   uint32
	Parts []uint32
}

// Keys of the two maps minsw keeps.
var (
	IPv4Addr        = Key{Type: nftTypeIPv4Addr, Len: 4}
	ProtoDotService = Key{Type: nftTypeInetProto<<concatTypeBits | nftTypeInetService, Len: 8, Parts: []uint32{1, 2}}
)

func udataU32(typ byte, v uint32) []byte {
	b := []byte{typ, 4, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(b[2:], v)
	return b
}

// markUserData is the NFTA_SET_USERDATA of a map to marks: nft writes a
// big-endian key (a concatenation is too) and a host-order mark.
func markUserData() []byte {
	return append(udataU32(udataKeyByteOrder, byteOrderBig), udataU32(udataDataByteOrder, byteOrderHost)...)
}

// markMapMessages is the batch that makes table ip <table> (if missing) and
// its map <name> { type <key> : mark } with the user data nft needs; both
// are kept as they are if they exist.
func markMapMessages(table, name string, key Key) ([]netlink.Message, error) {
	be := binaryutil.BigEndian.PutUint32
	tbl, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_TABLE_NAME, Data: []byte(table + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	flags := uint32(unix.NFT_SET_MAP)
	if len(key.Parts) > 0 {
		flags |= nftSetConcat
	}
	attrs := []netlink.Attribute{
		{Type: unix.NFTA_SET_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_SET_NAME, Data: []byte(name + "\x00")},
		{Type: unix.NFTA_SET_FLAGS, Data: be(flags)},
		{Type: unix.NFTA_SET_KEY_TYPE, Data: be(key.Type)},
		{Type: unix.NFTA_SET_KEY_LEN, Data: be(key.Len)},
		{Type: unix.NFTA_SET_DATA_TYPE, Data: be(nftTypeMark)},
		{Type: unix.NFTA_SET_DATA_LEN, Data: be(4)},
		// The kernel wants an id even when no rule of the batch uses it.
		{Type: unix.NFTA_SET_ID, Data: be(1)},
		{Type: unix.NFTA_SET_USERDATA, Data: markUserData()},
	}
	if len(key.Parts) > 0 {
		desc, err := concatDesc(key.Parts)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_SET_DESC, Data: desc})
	}
	set, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	nfgen := func(family byte, resID uint16) []byte {
		return []byte{family, unix.NFNETLINK_V0, byte(resID >> 8), byte(resID)}
	}
	const create = netlink.Request | netlink.Acknowledge | netlink.Create
	return []netlink.Message{
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
			Data: nfgen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)},
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWTABLE), Flags: create},
			Data: append(nfgen(unix.NFPROTO_IPV4, 0), tbl...)},
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSET), Flags: create},
			Data: append(nfgen(unix.NFPROTO_IPV4, 0), set...)},
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
			Data: nfgen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)},
	}, nil
}

// concatDesc is NFTA_SET_DESC holding NFTA_SET_DESC_CONCAT: the length of
// each part of a concatenated key (nft cannot list the map without it).
func concatDesc(parts []uint32) ([]byte, error) {
	var fields []byte
	for _, n := range parts {
		v, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: binaryutil.BigEndian.PutUint32(n)}})
		if err != nil {
			return nil, err
		}
		f, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_SET_DESC_SIZE, Data: v}})
		if err != nil {
			return nil, err
		}
		fields = append(fields, f...)
	}
	return netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLA_F_NESTED | nftaSetDescConcat, Data: fields}})
}

// MakeVIPMarkMap makes map <name> { type ipv4_addr : mark } in table ip
// <table>; see MakeMarkMap.
func MakeVIPMarkMap(nsFd int, table, name string) error {
	return MakeMarkMap(nsFd, table, name, IPv4Addr)
}

// MakeMarkMap sends markMapMessages on a socket of its own in the
// namespace nsFd (0: the caller's) and waits for the kernel's two acks.
func MakeMarkMap(nsFd int, table, name string, key Key) error {
	msgs, err := markMapMessages(table, name, key)
	if err != nil {
		return fmt.Errorf("map %s: %w", name, err)
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFd})
	if err != nil {
		return fmt.Errorf("map %s: netlink: %w", name, err)
	}
	defer c.Close()
	if _, err := c.SendMessages(msgs); err != nil {
		return fmt.Errorf("map %s: %w", name, err)
	}
	for acks := 0; acks < 2; {
		got, err := c.Receive()
		if err != nil {
			return fmt.Errorf("map %s: %w", name, err)
		}
		for _, m := range got {
			if m.Header.Type == netlink.Error {
				acks++
			}
		}
	}
	return nil
}
