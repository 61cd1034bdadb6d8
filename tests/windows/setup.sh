#!/usr/bin/env bash
# What building Cadenza for Windows needs (rustup's x86_64-pc-windows-gnu target, Debian's mingw-w64
# linker) and, with `test`, what testing it under Wine needs: Debian's Wine 8 and a Wine prefix of the
# project's own in target/wine (never the user's ~/.wine) holding
# - bcryptprimitives.dll, a stub for the one DLL Rust's std (1.78+) imports that Wine 8 lacks
#   (ProcessPrng, passed on to advapi32's SystemFunction036). Tests only; never shipped.
# - a decoy onnxruntime.dll in the prefix's System32: not ONNX Runtime (its OrtGetApiBase returns
#   nothing), where Windows would find one first if Cadenza loaded the library by name. Cadenza must
#   load its own, by full path (tests/windows_runtime.rs also puts it beside the host and on PATH).
# - libamxperm.so (Linux, for LD_PRELOAD into Wine): asks Linux for the AMX tile state
#   (arch_prctl ARCH_REQ_XCOMP_PERM), which Linux grants only to a process that asks. On a CPU with AMX
#   (Intel Xeon since Sapphire Rapids) ONNX Runtime's int8 kernels use it; Windows enables it by itself,
#   Wine 8 does not ask, and the Windows program dies of an illegal instruction (`tileloadd`) in
#   onnxruntime.dll. Elsewhere the request fails and nothing changes. Tests only.
# The prefix uses Wine's null graphics driver (no display is needed).
# Usage: tests/windows/setup.sh [build|test]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
what="${1:-build}"
sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
need=()
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
if [ "$what" = test ]; then
  command -v wine >/dev/null 2>&1 || need+=(wine)
  [ -x /usr/lib/wine/wine64 ] || need+=(wine64)
fi
if [ ${#need[@]} -gt 0 ]; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
rustup target list --installed | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
[ "$what" = test ] || exit 0

prefix="$PWD/target/wine"
export WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$prefix/system.reg" ]; then
  mkdir -p "$prefix"
  wineboot --init >/dev/null 2>&1 || true
  # No display here: Wine's null graphics driver, so that nice-plug's VST3 wrapper can make its hidden
  # message window (with the X11 driver and no X server, CreateWindowEx fails and the wrapper panics).
  wine reg add 'HKCU\Software\Wine\Drivers' /v Graphics /d null /f >/dev/null 2>&1
  wineserver --wait || true
fi
sys32="$prefix/drive_c/windows/system32"
[ -d "$sys32" ] || { echo "no Wine prefix at $prefix (wineboot failed)" >&2; exit 1; }
work="$PWD/target/wine-dlls"
mkdir -p "$work"
cat > "$work/bcryptprimitives.c" <<'C'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) { return SystemFunction036(data, (ULONG)length); }
C
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" "$work/bcryptprimitives.c" -ladvapi32
cat > "$work/decoy.c" <<'C'
/* Not ONNX Runtime: what an older or foreign onnxruntime.dll on the search path stands for. */
__declspec(dllexport) const void *OrtGetApiBase(void) { return 0; }
C
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/onnxruntime.dll" "$work/decoy.c"
cat > "$work/amxperm.c" <<'C'
#include <unistd.h>
#include <sys/syscall.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
__attribute__((constructor)) static void request_amx(void) {
    syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
}
C
gcc -O2 -shared -fPIC -o "$work/libamxperm.so" "$work/amxperm.c"
cp "$work/bcryptprimitives.dll" "$sys32/bcryptprimitives.dll"
cp "$work/onnxruntime.dll" "$sys32/onnxruntime.dll"
