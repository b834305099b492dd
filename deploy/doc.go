// Package deploy holds no code: its tests check the deployment files beside them
// (compose.yaml, k8s/, prometheus/, grafana/, Dockerfile) against the binaries they
// run. They build the binaries the Dockerfile builds and read each one's flags from
// its -h; they read the metric names the binaries export from the Go source of every
// package the binaries import. No server is started: there is no Docker or Kubernetes
// to start one on, so these tests are the check that the files agree with the code.
package deploy
