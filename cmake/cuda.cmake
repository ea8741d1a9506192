# The CUDA backend (docs/cuda.md): target ipa_ops_cuda from src/ops/cuda/*.{cu,cpp}, built with
# nvcc for Ampere (sm_80) and Hopper (sm_90) machine code plus sm_90 PTX that newer GPUs compile
# at load. Links cudart, cuBLAS, cuBLASLt and cuDNN 9 from the toolkit; defines IPA_HAVE_CUDA=1
# for its users (src/api registers the backend under that macro).
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "80-real;90-real;90-virtual")
endif()
if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
enable_language(CUDA)
# Our headers are C++20. CMake 3.25 does not know nvcc's -std=c++20 (nvcc has it since 12.0).
if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION OR CMAKE_CUDA20_STANDARD_COMPILE_OPTION STREQUAL "")
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
find_package(CUDAToolkit REQUIRED)
if(CUDAToolkit_VERSION VERSION_LESS 12.0)
  message(FATAL_ERROR "IPA_CUDA: CUDA ${CUDAToolkit_VERSION} found at ${CUDAToolkit_BIN_DIR}; "
                      "the backend needs CUDA 12 or newer (bf16 cuBLASLt epilogues, cuDNN 9)")
endif()

# cuDNN 9 ships with some toolkits (lib/ beside cudart) and as a separate package elsewhere.
find_path(IPA_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV CUDNN_ROOT
          PATH_SUFFIXES include)
find_library(IPA_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} ENV CUDNN_ROOT
             PATH_SUFFIXES lib lib64)
if(NOT IPA_CUDNN_INCLUDE_DIR OR NOT IPA_CUDNN_LIBRARY)
  message(FATAL_ERROR "IPA_CUDA: cuDNN 9 not found (cudnn.h: ${IPA_CUDNN_INCLUDE_DIR}, "
                      "libcudnn: ${IPA_CUDNN_LIBRARY}); looked beside the CUDA toolkit "
                      "(${CUDAToolkit_LIBRARY_DIR}) and in $CUDNN_ROOT. Install cuDNN 9 for "
                      "CUDA ${CUDAToolkit_VERSION_MAJOR} or set CUDNN_ROOT.")
endif()
file(STRINGS ${IPA_CUDNN_INCLUDE_DIR}/cudnn_version.h IPA_CUDNN_MAJOR_LINE
     REGEX "^#define CUDNN_MAJOR [0-9]+")
string(REGEX MATCH "[0-9]+" IPA_CUDNN_MAJOR "${IPA_CUDNN_MAJOR_LINE}")
if(NOT IPA_CUDNN_MAJOR STREQUAL "9")
  message(FATAL_ERROR "IPA_CUDA: cuDNN 9 needed, found major version '${IPA_CUDNN_MAJOR}' in "
                      "${IPA_CUDNN_INCLUDE_DIR}/cudnn_version.h")
endif()
message(STATUS "CUDA backend: CUDA ${CUDAToolkit_VERSION}, cuDNN ${IPA_CUDNN_LIBRARY}, "
               "architectures ${CMAKE_CUDA_ARCHITECTURES}")

file(GLOB IPA_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/ops/cuda/*.cu
     ${CMAKE_SOURCE_DIR}/src/ops/cuda/*.cpp)
add_library(ipa_ops_cuda STATIC ${IPA_CUDA_SOURCES})
set_target_properties(ipa_ops_cuda PROPERTIES CUDA_STANDARD 20 CUDA_STANDARD_REQUIRED ON
                      CUDA_EXTENSIONS OFF CUDA_SEPARABLE_COMPILATION OFF)
target_include_directories(ipa_ops_cuda PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${IPA_CUDNN_INCLUDE_DIR})
target_compile_definitions(ipa_ops_cuda PUBLIC IPA_HAVE_CUDA=1)
target_compile_options(ipa_ops_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${IPA_WERROR}>>:-Werror>
  # nvcc: warnings of the host compiler and of nvcc itself, as errors under IPA_WERROR.
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${IPA_WERROR}>>:-Werror=all-warnings>)
target_link_libraries(ipa_ops_cuda PUBLIC ipa_ops_cpu
                      PRIVATE CUDA::cudart CUDA::cublas CUDA::cublasLt ${IPA_CUDNN_LIBRARY})
