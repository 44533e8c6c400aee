package netdriver

// Validate reports the first unusable field of n, as EnsureNetwork checks
// it (fakes of the driver check the same).
func (n Network) Validate() error { return n.validate() }
