# Installs the build into a temporary prefix, then configures, builds and
# runs tests/install/consumer against it (cmake -P; variables BUILD_DIR,
# SOURCE_DIR, WORK_DIR, FIXTURES).
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
if(NOT EXISTS ${WORK_DIR}/prefix/include/funnel/funnel.h)
  message(FATAL_ERROR "the install has no include/funnel/funnel.h")
endif()
if(EXISTS ${WORK_DIR}/prefix/include/core OR EXISTS ${WORK_DIR}/prefix/include/nn)
  message(FATAL_ERROR "the install ships private headers")
endif()
run("configure the consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release)
run("build the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("run the consumer" ${WORK_DIR}/build/consumer ${FIXTURES}/index "peppa pig")
if(NOT last_output MATCHES "top [^ ]+ stages 2" OR NOT last_output MATCHES "prerank [1-9]")
  message(FATAL_ERROR "unexpected consumer output: ${last_output}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "consumer: ${last_output}")
