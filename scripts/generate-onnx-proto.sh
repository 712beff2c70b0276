#!/usr/bin/env bash
# Regenerates Sources/AugeONNX/Generated/onnx.pb.swift from Sources/AugeONNX/Proto/onnx.proto.
# The generated file is committed, so neither CI nor users build the protoc plugin.
# Needs protoc; builds protoc-gen-swift from swift-protobuf at the version Package.swift pins
# (override the checkout with SWIFT_PROTOBUF_DIR, the source with SWIFT_PROTOBUF_URL).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="1.39.0"
source_url="${SWIFT_PROTOBUF_URL:-https://github.com/apple/swift-protobuf.git}"
checkout="${SWIFT_PROTOBUF_DIR:-${TMPDIR:-/tmp}/swift-protobuf-$version}"
plugin="$checkout/.build/release/protoc-gen-swift"

command -v protoc >/dev/null || { echo "protoc not found (apt install protobuf-compiler / brew install protobuf)" >&2; exit 1; }
if [ ! -x "$plugin" ] || [ "$("$plugin" --version 2>/dev/null)" != "protoc-gen-swift $version" ]; then
    [ -d "$checkout" ] || git clone --quiet "$source_url" "$checkout"
    git -C "$checkout" checkout --quiet "$version"
    (cd "$checkout" && swift build -c release --product protoc-gen-swift)
fi

protoc --plugin=protoc-gen-swift="$plugin" \
    --proto_path="$root/Sources/AugeONNX/Proto" \
    --swift_opt=Visibility=Internal \
    --swift_out="$root/Sources/AugeONNX/Generated" \
    onnx.proto
echo "wrote Sources/AugeONNX/Generated/onnx.pb.swift with $("$plugin" --version)" >&2
