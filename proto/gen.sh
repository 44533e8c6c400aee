#!/bin/sh
# Regenerates the Go code for proto/minsw/v1 (needs protoc, protoc-gen-go,
# protoc-gen-go-grpc on PATH). The generated files are committed.
set -eu
cd "$(dirname "$0")"
protoc -I . -I /usr/include \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  minsw/v1/*.proto
