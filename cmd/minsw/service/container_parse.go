package service

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/containeropts"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func placement(ts *minswv1.TaskSpec) *minswv1.Placement {
	if ts.Placement == nil {
		ts.Placement = &minswv1.Placement{}
	}
	return ts.Placement
}

// res returns the task's limits (or reservations), made if missing.
func res(ts *minswv1.TaskSpec, limits bool) *minswv1.Resources {
	if ts.Resources == nil {
		ts.Resources = &minswv1.ResourceRequirements{}
	}
	if limits {
		if ts.Resources.Limits == nil {
			ts.Resources.Limits = &minswv1.Resources{}
		}
		return ts.Resources.Limits
	}
	if ts.Resources.Reservations == nil {
		ts.Resources.Reservations = &minswv1.Resources{}
	}
	return ts.Resources.Reservations
}

func setEndpointMode(spec *minswv1.ServiceSpec, mode string) error {
	if spec.Endpoint == nil {
		spec.Endpoint = &minswv1.EndpointSpec{}
	}
	switch mode {
	case "vip", "":
		spec.Endpoint.Mode = minswv1.EndpointMode_ENDPOINT_MODE_VIP
	case "dnsrr":
		spec.Endpoint.Mode = minswv1.EndpointMode_ENDPOINT_MODE_DNSRR
	default:
		return fmt.Errorf("invalid --endpoint-mode %q: must be vip or dnsrr", mode)
	}
	return nil
}

// parsePlacementPref reads --placement-pref spread=node.labels.zone.
func parsePlacementPref(s string) (*minswv1.PlacementPreference, error) {
	strategy, desc, ok := strings.Cut(s, "=")
	if !ok || desc == "" {
		return nil, fmt.Errorf("invalid --placement-pref %q: want spread=<node attribute>, e.g. spread=node.labels.zone", s)
	}
	if strategy != "spread" {
		return nil, fmt.Errorf("invalid --placement-pref %q: unknown strategy %q (only spread is supported)", s, strategy)
	}
	return &minswv1.PlacementPreference{SpreadDescriptor: desc}, nil
}

// parseGenericResource reads --generic-resource KIND=COUNT.
func parseGenericResource(s string) (*minswv1.GenericResource, error) {
	k, v, ok := strings.Cut(s, "=")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || k == "" || err != nil || n <= 0 {
		return nil, fmt.Errorf("invalid --generic-resource %q: want KIND=COUNT with a positive count, e.g. gpu=1", s)
	}
	return &minswv1.GenericResource{Kind: k, Value: n}, nil
}

func parseUlimit(s string) (*minswv1.Ulimit, error) {
	n, soft, hard, err := containeropts.Ulimit(s)
	if err != nil {
		return nil, err
	}
	return &minswv1.Ulimit{Name: n, Soft: soft, Hard: hard}, nil
}

// hostLine turns docker's --host host:ip into an /etc/hosts line "ip host".
func hostLine(s string) (string, error) {
	host, ip, ok := strings.Cut(s, ":")
	if !ok || host == "" || ip == "" {
		// host=ip is accepted too, as docker does.
		if host, ip, ok = strings.Cut(s, "="); !ok || host == "" || ip == "" {
			return "", fmt.Errorf("invalid --host %q: want HOST:IP", s)
		}
	}
	return ip + " " + host, nil
}

// splitCommand splits --entrypoint on white space, as docker's
// command-line type does ("" clears it).
func splitCommand(s string) ([]string, error) {
	return strings.Fields(s), nil
}

// readEnvFile reads a docker env file: KEY=VALUE lines, # comments, and a
// bare KEY taking its value from the CLI's environment.
func readEnvFile(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, hasValue := strings.Cut(line, "=")
		if k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("--env-file %s line %d: variable %q has white space", path, n, k)
		}
		if !hasValue {
			if v, ok := os.LookupEnv(k); ok {
				out = append(out, k+"="+v)
			}
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// registryAuth reads the credentials the docker CLI stored for image's
// registry ($DOCKER_CONFIG/config.json or ~/.docker/config.json) and
// encodes them as docker's X-Registry-Auth.
func registryAuth(image string) (string, error) {
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("--with-registry-auth: invalid image %q: %v", image, err)
	}
	host := ref.Context().RegistryStr()
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", fmt.Errorf("--with-registry-auth: no docker credentials: %w (run docker login %s)", err, host)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("--with-registry-auth: %s: %v", filepath.Join(dir, "config.json"), err)
	}
	keys := []string{host, "https://" + host, "http://" + host}
	if host == name.DefaultRegistry {
		keys = append(keys, "https://index.docker.io/v1/", "index.docker.io")
	}
	for _, k := range keys {
		a, ok := cfg.Auths[k]
		if !ok {
			continue
		}
		user, pass := a.Username, a.Password
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return "", fmt.Errorf("--with-registry-auth: credentials for %s are not base64", k)
			}
			user, pass, _ = strings.Cut(string(dec), ":")
		}
		b, _ := json.Marshal(map[string]string{"username": user, "password": pass, "serveraddress": host})
		return base64.URLEncoding.EncodeToString(b), nil
	}
	return "", fmt.Errorf("--with-registry-auth: no credentials for %s in %s (run docker login %s)", host, filepath.Join(dir, "config.json"), host)
}

func addRemove(list, add, rm []string) []string {
	list = slices.DeleteFunc(slices.Clone(list), func(s string) bool { return slices.Contains(rm, s) })
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return capKey(x) == capKey(s) })
}

func removeFold(list []string, s string) []string {
	return slices.DeleteFunc(list, func(x string) bool { return capKey(x) == capKey(s) })
}

func capKey(s string) string {
	return strings.TrimPrefix(strings.ToUpper(s), "CAP_")
}

func parseDurationFlag(flag, s string) (*durationpb.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("invalid --%s %q: want a duration such as 10s (ns|us|ms|s|m|h)", flag, s)
	}
	return durationpb.New(d), nil
}
