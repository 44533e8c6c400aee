// Package storageopts parses the values of docker's --mount, --secret and
// --config flags into service spec pieces, with docker/cli's grammar: a
// comma-separated list of key=value fields (CSV quoting allowed), or, for
// --secret and --config, a bare name. It knows nothing of the API's checks
// beyond what the grammar itself rules out.
package storageopts

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// fields splits a flag value into its key=value fields.
func fields(value string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(value))
	fs, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("invalid value %s: %v", strconv.Quote(value), err)
	}
	return fs, nil
}

// parseBool reads docker's optional boolean values: a bare key is true.
func parseBool(key, val string, hasVal bool) (bool, error) {
	if !hasVal {
		return true, nil
	}
	switch strings.ToLower(val) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf("invalid value for %s: %s", Printable(key), Printable(val))
}

// Mount parses one --mount value.
func Mount(value string) (*minswv1.Mount, error) {
	fs, err := fields(value)
	if err != nil {
		return nil, err
	}
	p := &mountParser{m: &minswv1.Mount{Type: minswv1.MountType_MOUNT_TYPE_VOLUME}, typ: "volume"}
	for _, f := range fs {
		if err := p.field(f); err != nil {
			return nil, err
		}
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p.m, nil
}

// mountParser is a --mount value being read: the mount so far, its type,
// and which type's options were given (checked against the type at the end).
type mountParser struct {
	m                            *minswv1.Mount
	typ                          string
	volOpts, bindOpts, tmpfsOpts bool
}

func (p *mountParser) volume() *minswv1.VolumeOptions {
	p.volOpts = true
	if p.m.VolumeOptions == nil {
		p.m.VolumeOptions = &minswv1.VolumeOptions{}
	}
	return p.m.VolumeOptions
}

func (p *mountParser) driver() *minswv1.Driver {
	v := p.volume()
	if v.DriverConfig == nil {
		v.DriverConfig = &minswv1.Driver{}
	}
	return v.DriverConfig
}

func (p *mountParser) tmpfs() *minswv1.TmpfsOptions {
	p.tmpfsOpts = true
	if p.m.TmpfsOptions == nil {
		p.m.TmpfsOptions = &minswv1.TmpfsOptions{}
	}
	return p.m.TmpfsOptions
}

// field reads one key[=value] of the mount.
func (p *mountParser) field(f string) error {
	key, val, hasVal := strings.Cut(f, "=")
	key = strings.ToLower(strings.TrimSpace(key))
	switch key {
	case "readonly", "ro", "volume-nocopy":
		b, err := parseBool(key, val, hasVal)
		if err != nil {
			return err
		}
		if key == "volume-nocopy" {
			p.volume().Nocopy = b
		} else {
			p.m.Readonly = b
		}
		return nil
	}
	if !hasVal {
		return fmt.Errorf("invalid field '%s' must be a key=value pair", Printable(f))
	}
	switch key {
	case "type":
		return p.setType(val)
	case "source", "src":
		p.m.Source = val
	case "target", "dst", "destination":
		p.m.Target = val
	case "consistency":
		// Docker Desktop's hint; meaningless on Linux, accepted as docker does.
	case "bind-propagation":
		p.bindOpts = true
		prop, ok := minswv1.MountPropagation_value["MOUNT_PROPAGATION_"+strings.ToUpper(val)]
		if !ok {
			return fmt.Errorf("invalid bind propagation %s: want one of rprivate, private, rshared, shared, rslave, slave", strconv.Quote(val))
		}
		p.m.BindOptions = &minswv1.BindOptions{Propagation: minswv1.MountPropagation(prop)}
	case "volume-label", "volume-driver", "volume-opt":
		return p.volumeField(key, val)
	case "tmpfs-size", "tmpfs-mode":
		return p.tmpfsField(key, val)
	default:
		return fmt.Errorf("unexpected key '%s' in '%s'", Printable(key), Printable(f))
	}
	return nil
}

func (p *mountParser) setType(val string) error {
	p.typ = strings.ToLower(val)
	switch p.typ {
	case "volume":
		p.m.Type = minswv1.MountType_MOUNT_TYPE_VOLUME
	case "bind":
		p.m.Type = minswv1.MountType_MOUNT_TYPE_BIND
	case "tmpfs":
		p.m.Type = minswv1.MountType_MOUNT_TYPE_TMPFS
	default:
		return fmt.Errorf("invalid mount type %s: minsw supports volume, bind and tmpfs", strconv.Quote(val))
	}
	return nil
}

func (p *mountParser) volumeField(key, val string) error {
	switch key {
	case "volume-label":
		k, v, _ := strings.Cut(val, "=")
		vo := p.volume()
		if vo.Labels == nil {
			vo.Labels = map[string]string{}
		}
		vo.Labels[k] = v
	case "volume-driver":
		p.driver().Name = val
	case "volume-opt":
		k, v, ok := strings.Cut(val, "=")
		if !ok {
			return fmt.Errorf("invalid volume-opt %s: want key=value", strconv.Quote(val))
		}
		d := p.driver()
		if d.Options == nil {
			d.Options = map[string]string{}
		}
		d.Options[k] = v
	}
	return nil
}

func (p *mountParser) tmpfsField(key, val string) error {
	switch key {
	case "tmpfs-size":
		n, err := RAMInBytes(val)
		if err != nil {
			return fmt.Errorf("invalid value for %s: %s", key, Printable(val))
		}
		p.tmpfs().SizeBytes = n
	case "tmpfs-mode":
		n, err := strconv.ParseUint(val, 8, 32)
		if err != nil {
			return fmt.Errorf("invalid value for %s: %s", key, Printable(val))
		}
		p.tmpfs().Mode = uint32(n)
	}
	return nil
}

// check refuses a mount without a target, or with another type's options.
func (p *mountParser) check() error {
	if p.m.Target == "" {
		return fmt.Errorf("target is required")
	}
	if p.volOpts && p.typ != "volume" {
		return fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", p.typ)
	}
	if p.bindOpts && p.typ != "bind" {
		return fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", p.typ)
	}
	if p.tmpfsOpts && p.typ != "tmpfs" {
		return fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", p.typ)
	}
	return nil
}

// file parses the shared grammar of --secret and --config: NAME, or
// source=,target=,uid=,gid=,mode= (mode in octal, as 0400).
func file(kind, value string) (source string, f *minswv1.FileTarget, err error) {
	fs, err := fields(value)
	if err != nil {
		return "", nil, err
	}
	f = &minswv1.FileTarget{}
	for _, fld := range fs {
		key, val, hasVal := strings.Cut(fld, "=")
		if !hasVal {
			if len(fs) == 1 && fld != "" {
				// A bare name: source and target both.
				return fld, &minswv1.FileTarget{Name: fld}, nil
			}
			return "", nil, fmt.Errorf("invalid field '%s' must be a key=value pair", Printable(fld))
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "source", "src":
			source = val
		case "target":
			f.Name = val
		case "uid":
			f.Uid = val
		case "gid":
			f.Gid = val
		case "mode":
			m, err := strconv.ParseUint(val, 0, 32)
			if err != nil {
				return "", nil, fmt.Errorf("invalid mode specified: %v", err)
			}
			f.Mode = uint32(m)
		default:
			return "", nil, fmt.Errorf("invalid field in %s request: %s", kind, Printable(key))
		}
	}
	if source == "" {
		return "", nil, fmt.Errorf("source is required")
	}
	return source, f, nil
}

// Secret parses one --secret value.
func Secret(value string) (*minswv1.SecretReference, error) {
	src, f, err := file("secret", value)
	if err != nil {
		return nil, err
	}
	return &minswv1.SecretReference{SecretName: src, File: f}, nil
}

// Config parses one --config value. A config given by name alone lands at
// /<name> (the API's default), so its target is left empty.
func Config(value string) (*minswv1.ConfigReference, error) {
	src, f, err := file("config", value)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(value, "=") {
		f.Name = ""
	}
	return &minswv1.ConfigReference{ConfigName: src, File: f}, nil
}

// RAMInBytes reads a size as docker does: a number with an optional
// binary unit suffix (b, k, m, g, t, p; "kb", "mb"... accepted too).
func RAMInBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "ib")
	if len(t) > 1 && strings.HasSuffix(t, "b") && strings.ContainsAny(t[len(t)-2:len(t)-1], "kmgtp") {
		t = t[:len(t)-1]
	}
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'b':
			t = t[:n-1]
		case 'k':
			mult, t = 1<<10, t[:n-1]
		case 'm':
			mult, t = 1<<20, t[:n-1]
		case 'g':
			mult, t = 1<<30, t[:n-1]
		case 't':
			mult, t = 1<<40, t[:n-1]
		case 'p':
			mult, t = 1<<50, t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size: %q", s)
	}
	return int64(f * float64(mult)), nil
}

// Printable is s as an error message may show it: as it is when it has
// no control characters, quoted otherwise, so one error stays one line.
func Printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || !utf8.ValidRune(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}
