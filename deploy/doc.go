// Package deploy holds no code: its tests check the deployment files beside them
// (Dockerfile, compose.yaml, k8s/, prometheus/, grafana/) against the binaries they
// run, as there is no Docker or Kubernetes here to run them on. The tests build the
// binaries the Dockerfile builds and read each one's flags from its -h, read the
// metric names the binaries export from the Go source of every package they import,
// and (TestServedPaths) run each binary briefly on loopback to confirm which port
// answers /healthz, /readyz and /metrics.
package deploy
