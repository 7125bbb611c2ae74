# reports.cmake - the sanitizer reports directory of the sanitize preset.
#   -DMODE=setup: empty DIR and make it writable by every test's processes
#                 (outpost-trackd runs as its own user in some tests).
#   -DMODE=check: fail, printing each one, if any report was written.
if(MODE STREQUAL "setup")
  file(REMOVE_RECURSE "${DIR}")
  file(MAKE_DIRECTORY "${DIR}")
  execute_process(COMMAND chmod 1777 "${DIR}")
  return()
endif()
file(GLOB reports "${DIR}/*")
if(NOT reports)
  message(STATUS "no sanitizer report in ${DIR}")
  return()
endif()
list(LENGTH reports n)
foreach(r ${reports})
  file(READ "${r}" text)
  message("==== ${r}\n${text}")
endforeach()
message(FATAL_ERROR "${n} sanitizer report(s) in ${DIR}: each names the outpost process (pid) and the fault")
