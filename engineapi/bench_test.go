package engineapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Benchmarks of the Engine API door (real daemon, in-memory executor):
//
//	go test -run XXX -bench . -benchtime 20x ./engineapi/
//
// They print the figures of issue 16's table: docker service ls with 1,000
// services through the docker CLI, docker service create --detach's round
// trip, and GET /services requests per second with 100 services.

// createServices makes n services named prefix-i through the API.
func createServices(b *testing.B, d *daemon, prefix string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			body := fmt.Sprintf(`{"Name":"%s-%d","TaskTemplate":{"ContainerSpec":{"Image":"containous/whoami"}},"Mode":{"Replicated":{"Replicas":1}}}`, prefix, i)
			resp, err := d.http().Post("http://docker/v1.47/services/create", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b, _ := io.ReadAll(resp.Body)
				errs <- fmt.Sprintf("%d %s", resp.StatusCode, b)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		b.Fatalf("creating services: %s", e)
	}
}

func BenchmarkDockerServiceLs1000(b *testing.B) {
	d := startDaemon(b, "swarm-manager")
	d.initSwarm()
	createServices(b, d, "svc", 1000)
	if out := d.ok("service", "ls", "-q"); len(strings.Fields(out)) != 1000 {
		b.Fatalf("service ls listed %d services", len(strings.Fields(out)))
	}
	// Steady state, as a user's list mostly is: every task running.
	for deadline := time.Now().Add(3 * time.Minute); ; {
		out := d.ok("service", "ls", "--format", "{{.Replicas}}")
		if strings.Count(out, "1/1") == 1000 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the 1,000 services did not all run within 3 minutes")
		}
		time.Sleep(time.Second)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		out := d.ok("service", "ls")
		if strings.Count(out, "\n") != 1001 {
			b.Fatalf("service ls printed %d lines", strings.Count(out, "\n"))
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/docker-service-ls")
	// The server's share: the one request docker service ls makes.
	b.StopTimer()
	t0 := time.Now()
	for i := 0; i < 10; i++ {
		resp, err := d.http().Get("http://docker/v1.47/services?status=true")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/10, "ms/api-get-services")
}

func BenchmarkDockerServiceCreateDetach(b *testing.B) {
	d := startDaemon(b, "swarm-manager")
	d.initSwarm()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		d.ok("service", "create", "--detach", "--quiet", "--no-resolve-image", "--name", fmt.Sprintf("c%d", i), "containous/whoami")
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/docker-service-create")
	b.StopTimer()
	// The same request without the docker CLI's process start and
	// handshakes: the Engine API's own round trip.
	n := 200
	t0 := time.Now()
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"Name":"api-%d","TaskTemplate":{"ContainerSpec":{"Image":"containous/whoami"}}}`, i)
		resp, err := d.http().Post("http://docker/v1.47/services/create", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("create: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/float64(n), "ms/api-service-create")
	// The docker CLI's own share: a call that costs the daemon nothing.
	t0 = time.Now()
	for i := 0; i < 20; i++ {
		d.ok("version", "--format", "{{.Server.APIVersion}}")
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/20, "ms/docker-version")
}

func BenchmarkEngineAPIListServices100(b *testing.B) {
	d := startDaemon(b, "swarm-manager")
	d.initSwarm()
	createServices(b, d, "svc", 100)
	c := d.http()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	get := func() {
		resp, err := c.Get("http://docker/v1.47/services?status=true")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET /services: %d", resp.StatusCode)
		}
	}
	get()
	b.ResetTimer()
	start := time.Now()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
