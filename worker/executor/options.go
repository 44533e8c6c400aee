package executor

// Options are the container options of `docker service create` beyond the
// image, command and environment: who the process runs as, what it may do,
// what it may use and where its output goes. The zero value is Docker's
// default for each.
type Options struct {
	Dir      string   // working directory ("" = the image's)
	User     string   // user[:group], names or IDs ("" = the image's)
	Groups   []string // supplementary groups, names or GIDs
	Init     bool     // run a tiny init as PID 1 that forwards signals and reaps zombies
	ReadOnly bool     // root filesystem read-only
	TTY      bool     // allocate a pseudo-terminal for the process
	CapAdd   []string // CAP_X or X, or ALL
	CapDrop  []string
	Sysctls  map[string]string
	Ulimits  []Ulimit
	// OOMScoreAdj is the process's oom_score_adj (-1000..1000).
	OOMScoreAdj int
	// StopSignal is sent first on Stop ("" = SIGTERM); a name (SIGUSR1,
	// USR1) or a number.
	StopSignal string
	// NanoCPUs, MemoryBytes and Pids limit the container's cgroup; 0 = no
	// limit.
	NanoCPUs    int64
	MemoryBytes int64
	Pids        int64
	// LogDriver is json-file (""), local or none; LogOpts max-size and
	// max-file rotate the log.
	LogDriver string
	LogOpts   map[string]string
}

// Ulimit is one resource limit (RLIMIT_<NAME>).
type Ulimit struct {
	Name       string // nofile, nproc, core, ...
	Soft, Hard int64
}
