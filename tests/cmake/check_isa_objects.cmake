# The objects built for AVX-512 (*_avx512.cpp) must define no symbol the linker may share with
# other files (weak/COMDAT: nm types W, V, u, i): the linker keeps one copy of such a symbol, and
# if it kept the AVX-512 one, AVX2-only CPUs would run AVX-512 code and crash. ops/cpu/simd.h
# keeps the kernels' code internal for this reason.
# Usage: cmake -DNM=nm -DOBJECTS="a.o;b.o" -P check_isa_objects.cmake
set(checked 0)
foreach(object IN LISTS OBJECTS)
  if(NOT object MATCHES "_avx512\\.cpp\\.o$")
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  execute_process(COMMAND ${NM} --defined-only ${object} OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm failed on ${object}")
  endif()
  string(REPLACE "\n" ";" lines "${symbols}")
  foreach(line IN LISTS lines)
    # DW.ref.__gxx_personality_v0 is the exception personality pointer: data, no code.
    if(line MATCHES " [WVui] " AND NOT line MATCHES "DW\\.ref\\.__gxx_personality_v0")
      message(SEND_ERROR "${object} defines a shared symbol: ${line}")
    endif()
  endforeach()
endforeach()
if(checked EQUAL 0)
  message(FATAL_ERROR "no *_avx512.cpp objects given")
endif()
message(STATUS "${checked} AVX-512 objects define no shared symbols")
