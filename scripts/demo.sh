#!/usr/bin/env bash
# Builds auge (release) and runs the main job on the shipped samples.
# Stand-in until the default model (Models/default.onnx) exists: for each class of SampleImages/,
# show what a 128x128 gray model sees of one photo (written to .build/demo/), and describe the
# photos Auge would classify.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product auge >&2
auge=.build/release/auge
mkdir -p .build/demo
for folder in SampleImages/*/; do
    class=$(basename "$folder")
    photo=$(ls "$folder" | grep -E '\.(jpg|png)$' | head -1)
    "$auge" preview "$folder$photo" --size 128x128 --color gray -o ".build/demo/$class-preview.png"
done
echo "previews of what a model sees: .build/demo/*-preview.png"
