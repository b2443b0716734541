# node-gyp build of the same CPU-only addon that CMakeLists.txt builds (npm run build:gyp).
# It writes build/Release/ifa_native.node; the cmake-js build (build-cmake/) is preferred at load
# time when both exist.
{
  "targets": [
    {
      "target_name": "ifa_native",
      "sources": [
        "native/addon.cc",
        "native/augment_napi.cc",
        "native/cpu_stream.cc",
        "native/storage.cc",
        "native/cuda_info_none.cc",
        "kernels/cpu/augment.cc",
        "kernels/cpu/augment_kernels.cc",
        "kernels/cpu/batchnorm.cc",
        "kernels/cpu/cast.cc",
        "kernels/cpu/conv.cc",
        "kernels/cpu/elementwise.cc",
        "kernels/cpu/gemm.cc",
        "kernels/cpu/layout.cc",
        "kernels/cpu/loss.cc",
        "kernels/cpu/matmul.cc",
        "kernels/cpu/optim.cc",
        "kernels/cpu/parallel.cc",
        "kernels/cpu/pool.cc",
        "kernels/cpu/reduce.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "IFA_VERSION=<!(node -p \"JSON.stringify(require('./package.json').version)\")",
        "IFA_BUILD_SYSTEM=\"node-gyp\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
