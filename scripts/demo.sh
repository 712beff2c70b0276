#!/usr/bin/env bash
# Builds auge (release) and runs the main job on the shipped samples.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product auge >&2
auge=.build/release/auge
# Stand-in until the default model and SampleImages exist: show what a model would see.
mkdir -p .build/demo
for photo in Tests/AugeImageTests/Fixtures/jpeg/orientation-6.jpg Tests/AugeImageTests/Fixtures/jpeg/large-420.jpg; do
    "$auge" preview "$photo" --size 128x128 --resize fit -o ".build/demo/$(basename "$photo" .jpg)-preview.png"
done
