package netdriver

import "fmt"

// CheckBackendChoice checks an lb backend as a user names it (the daemon's
// --lb-backend): "ipvs", "nftables", or "auto"/"" (ipvs where the kernel
// has it). It is the one place the names are checked; the daemon and the
// netagent call it.
func CheckBackendChoice(choice string) error {
	switch choice {
	case "", "auto", BackendIPVS, BackendNFTables:
		return nil
	}
	return fmt.Errorf("invalid lb backend %q: want ipvs, nftables or auto", choice)
}
