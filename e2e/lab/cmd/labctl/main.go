// Command labctl drives the three-node minsw lab (package lab): `up` builds
// it and replays the tutorial as a narrated transcript, `down` removes it,
// `shell NODE` opens a shell in a node's network namespace with MINSW_HOST
// and DOCKER_HOST set (so both minsw and docker talk to that node), and `registry` is the lab registry process itself (run by `up` inside
// the registry namespace).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/minsw/minsw/e2e/images"
	"github.com/minsw/minsw/e2e/lab"
	"github.com/minsw/minsw/internal/testenv"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Args[2:])
	case "down":
		err = down(os.Args[2:])
	case "shell":
		err = shell(os.Args[2:])
	case "registry":
		err = registry(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labctl:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: labctl up [--repo DIR] [--dir DIR] [--minsw BIN] [--tool minsw|docker] | down [--dir DIR] | shell NODE [--dir DIR] | registry --addr IP:PORT --whoami BIN --ready FILE")
	os.Exit(2)
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	repo := fs.String("repo", ".", "the minsw repository")
	dir := fs.String("dir", lab.DefaultDir, "lab directory")
	minsw := fs.String("minsw", "", "minsw binary (default <repo>/bin/minsw)")
	transcript := fs.String("transcript", "", "also write the transcript here (default <dir>/transcript.txt)")
	tool := fs.String("tool", lab.ToolMinsw, "the CLI that types the tutorial's commands: minsw, or docker (the real docker CLI through each node's Engine API)")
	fs.Parse(args)
	if *tool != lab.ToolMinsw && *tool != lab.ToolDocker {
		return fmt.Errorf("invalid --tool %q: want minsw or docker", *tool)
	}
	t0 := time.Now()
	root, err := filepath.Abs(*repo)
	if err != nil {
		return err
	}
	cfg := lab.Default(root)
	cfg.Dir = *dir
	if *minsw != "" {
		cfg.Minsw = *minsw
	}
	if cfg.Labctl, err = os.Executable(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := os.Stat(filepath.Join(cfg.Dir, "lab.json")); err == nil {
		fmt.Println("lab: a lab is up in", cfg.Dir, "- taking it down first")
		if err := lab.Down(ctx, cfg.Dir, os.Stdout); err != nil {
			return err
		}
	}
	fmt.Printf("== Bringing up the lab in %s (nodes as network namespaces on bridge %s, underlay %s, no route out)\n", cfg.Dir, cfg.Bridge, lab.Underlay)
	l, err := lab.Up(ctx, cfg, os.Stdout)
	if err != nil {
		return err
	}
	upTime := time.Since(t0)
	path := *transcript
	if path == "" {
		path = filepath.Join(cfg.Dir, "transcript.txt")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	l.Log = io.MultiWriter(os.Stdout, f)
	if _, err := l.ReplayWith(ctx, *tool); err != nil {
		return err
	}
	fmt.Printf("\n== Done: lab up in %.1fs, replay %.1fs (labctl total %.1fs). Transcript: %s\n",
		upTime.Seconds(), (time.Since(t0) - upTime).Seconds(), time.Since(t0).Seconds(), path)
	fmt.Println("   Open a shell on a node:  e2e/lab/lab.sh shell swarm-manager   (minsw talks to that node's daemon)")
	fmt.Println("   Tear it all down:        e2e/lab/lab.sh down   (or make lab-down)")
	return nil
}

func down(args []string) error {
	fs := flag.NewFlagSet("down", flag.ExitOnError)
	dir := fs.String("dir", lab.DefaultDir, "lab directory")
	fs.Parse(args)
	return lab.Down(context.Background(), *dir, os.Stdout)
}

// shell replaces labctl with a shell in the node's network namespace, with
// MINSW_HOST naming that node's daemon and minsw on PATH.
func shell(args []string) error {
	if len(args) < 1 {
		usage()
	}
	node := args[0]
	fs := flag.NewFlagSet("shell", flag.ExitOnError)
	dir := fs.String("dir", lab.DefaultDir, "lab directory")
	fs.Parse(args[1:])
	l, err := lab.Open(*dir, os.Stdout)
	if err != nil {
		return fmt.Errorf("no lab in %s (make lab first): %w", *dir, err)
	}
	n, ok := l.NodeByName(node)
	if !ok {
		return fmt.Errorf("no node %q in the lab", node)
	}
	sh := os.Getenv("SHELL")
	if sh == "" {
		sh = "/bin/bash"
	}
	env := append(os.Environ(),
		"MINSW_HOST="+l.Host(n),
		"DOCKER_HOST="+l.DockerHost(n),
		"PATH="+filepath.Dir(l.Minsw)+":"+os.Getenv("PATH"),
		"PS1=root@"+n.Name+":\\w# ",
	)
	nsenter, err := lookPath("nsenter")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "lab: shell in %s's network namespace; MINSW_HOST=%s DOCKER_HOST=%s; exit to leave\n", n.Name, l.Host(n), l.DockerHost(n))
	return syscall.Exec(nsenter, []string{"nsenter", "--net=" + lab.NetnsPath(n), sh, "--norc", "-i"}, env)
}

func lookPath(name string) (string, error) {
	for _, d := range filepath.SplitList(os.Getenv("PATH") + ":/usr/bin:/usr/sbin:/bin:/sbin") {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// registry serves the lab registry on addr in the current network namespace
// (the registry's, via nsenter), pushes the lab images to itself, writes the
// ready file, and serves until SIGTERM.
func registry(args []string) error {
	fs := flag.NewFlagSet("registry", flag.ExitOnError)
	addr := fs.String("addr", "", "listen address, IP:PORT")
	whoami := fs.String("whoami", "", "the static whoami binary")
	ready := fs.String("ready", "", "file written once the images are pushed")
	fs.Parse(args)
	if *addr == "" || *whoami == "" || *ready == "" {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- testenv.ServeRegistry(ctx, l, testenv.RegistryOptions{Log: os.Stderr}) }()
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = images.Push(pctx, *addr, *whoami)
	cancel()
	if err != nil {
		stop()
		<-served
		return err
	}
	fmt.Fprintf(os.Stderr, "registry: serving %s and %s on %s\n", images.Whoami, images.NetBox, *addr)
	if err := os.WriteFile(*ready, []byte(*addr+"\n"), 0o644); err != nil {
		return err
	}
	if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
