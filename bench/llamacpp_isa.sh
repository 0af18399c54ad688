# Sourced by bench/compare-llamacpp.sh and bench/compare-serve.sh: the ISA flags llama.cpp is built with here.
# Built the way llama.cpp's users build it for this CPU (GGML_NATIVE=ON: -march=native), except on a CPU with AMX
# (Sapphire Rapids and later): there -march=native turns on llama.cpp's AMX backend, which crashes in
# ggml_backend_amx_mul_mat at the first product (llama-cpp-python 0.3.36; llama.cpp issue #20824, closed unfixed),
# so every other ISA extension the CPU has is named one by one and AMX is left out. Sets ISA_FLAGS (cmake
# arguments) and ISA_TAG, which the build directory records (build/ISA) so that a host of another kind rebuilds.
ISA_FLAGS=(-DGGML_NATIVE=ON)
ISA_TAG=native
if grep -q -w amx_int8 /proc/cpuinfo 2>/dev/null; then
    ISA_FLAGS=(-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
    for f in sse4_2:SSE42 avx:AVX avx2:AVX2 bmi2:BMI2 fma:FMA f16c:F16C avx_vnni:AVX_VNNI avx512f:AVX512 \
             avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16; do
        grep -q -w "${f%%:*}" /proc/cpuinfo && ISA_FLAGS+=("-DGGML_${f#*:}=ON")
    done
    ISA_TAG=no-amx
fi
# llamacpp_build_dir DIR: remove DIR when it was configured for another ISA choice
llamacpp_build_dir() { [ "$(cat "$1/ISA" 2>/dev/null || echo native)" = "$ISA_TAG" ] || rm -rf "$1"; }
