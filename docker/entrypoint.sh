#!/usr/bin/env bash
# drn-edge container entry point: check the Jetson L4T release the image was built for, then run a drn-* command.
set -euo pipefail

usage() {
  cat <<'TXT'
usage: docker run [docker flags] IMAGE COMMAND [ARGS...]
commands:
  export ARGS   drn-export   (checkpoint/ONNX -> ONNX, INT8/FP16, TensorRT plan)
  bench ARGS    drn-bench    (latency and fidelity)
  derain ARGS   drn-derain   (images, folders, video, camera)
  eval ARGS     drn-eval     (checkpoint quality; needs the cpu image's training stack)
  drn-* ARGS    any drn-edge command by its full name
  help          this text
TXT
}

release_file="${DRN_L4T_RELEASE_FILE:-/etc/nv_tegra_release}"
if [[ -n "${DRN_EXPECT_L4T:-}" ]]; then
  # DRN_EXPECT_L4T is "R36.4": major release and revision the image's TensorRT/CUDA libraries match.
  if [[ ! -r "$release_file" ]]; then
    echo "error: this image is built for Jetson L4T ${DRN_EXPECT_L4T} but ${release_file} is missing;" \
         "run it on a Jetson with JetPack 6 and 'docker run --runtime nvidia'" >&2
    exit 3
  fi
  line="$(head -n 1 "$release_file")"
  # e.g. "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: ..."
  major="$(sed -n 's/^# *\(R[0-9]*\) (release).*/\1/p' <<<"$line")"
  revision="$(sed -n 's/.*REVISION: *\([0-9]*\).*/\1/p' <<<"$line")"
  if [[ -z "$major" || -z "$revision" ]]; then
    echo "error: cannot read the L4T release from ${release_file}: '${line}'" >&2
    exit 3
  fi
  if [[ "${major}.${revision}" != "${DRN_EXPECT_L4T}" ]]; then
    echo "error: this image is built for L4T ${DRN_EXPECT_L4T} (TensorRT 10.3, CUDA 12.6) but the device runs" \
         "L4T ${major}.${revision}; plans and libraries would not match. Use the image built for your JetPack:" \
         "docker build --build-arg L4T_TAG=<your r3x.y.z> -f docker/Dockerfile.jetson ." >&2
    exit 3
  fi
fi

cmd="${1:-help}"
case "$cmd" in
  export|bench|derain|eval|train)
    shift
    exec "drn-${cmd}" "$@" ;;
  drn-*)
    shift
    exec "$cmd" "$@" ;;
  help|--help|-h)
    usage ;;
  *)
    echo "error: unknown command '${cmd}'" >&2
    usage >&2
    exit 2 ;;
esac
