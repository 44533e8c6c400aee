package nft

import (
	"fmt"

	"github.com/minsw/minsw/netdriver/internal/nftmap"
)

// makeVIPMarkMap makes map vip_mark with the data byte order nft needs to
// print the true marks (google/nftables cannot declare it).
func (b *Backend) makeVIPMarkMap() error {
	if err := nftmap.MakeVIPMarkMap(b.nsFd, TableName, mapVIPMark); err != nil {
		return fmt.Errorf("nft: %w", missing(err))
	}
	return nil
}
