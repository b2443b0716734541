# Rewrites one CUDA source for the emulator: `kernel<<<grid, block, shared, stream>>>(args)` becomes
# `::ifa_emu::Launch(grid, block, shared, stream).go([](auto... a_) { kernel(a_...); })(args)`
# (see cuda_runtime.h); nothing else changes. A #line
# directive keeps compiler messages pointing at the original file.
# Usage: cmake -DIN=kernels/cuda/x.cu -DOUT=build/emu/x.cc -P translate.cmake
file(READ "${IN}" src)
string(REGEX REPLACE "([A-Za-z_][A-Za-z0-9_]*(<[^<>;{}()]*>)?)<<<([^;]*)>>>"
       "::ifa_emu::Launch(\\3).go([](auto... a_) { \\1(a_...); })" src "${src}")
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${src}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
