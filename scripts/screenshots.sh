#!/usr/bin/env bash
# Regenerates the README's picture of the token page, assets/screenshots/page.png, from the
# browser tests: they run the real server with a demo JWT in headless Chromium and write light,
# dark, phone and 444 screenshots to target/screenshots/; the light one is copied here.
# Needs what scripts/test.sh installs (Chromium, ChromeDriver). Usage: scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --locked --features tool-tests --test tools -- \
  --exact page_browser::screenshots_light_dark_phone_and_444
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p assets/screenshots
cp "$target_dir/screenshots/page-light.png" assets/screenshots/page.png
echo "assets/screenshots/page.png updated; the others are in $target_dir/screenshots/"
