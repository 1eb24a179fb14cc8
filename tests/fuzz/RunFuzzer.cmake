# cmake -DFUZZER=exe -DCORPUS=dir -DWORK=dir -DSECONDS=n -P RunFuzzer.cmake
# Replays every input of CORPUS (the seeds and the regression inputs kept from earlier findings),
# then explores for SECONDS, writing new inputs to WORK/corpus and any crashing input to WORK/.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus)
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=20 -rss_limit_mb=4096
    -print_final_stats=1 -artifact_prefix=${WORK}/ ${WORK}/corpus ${CORPUS}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  file(GLOB findings ${WORK}/crash-* ${WORK}/leak-* ${WORK}/timeout-* ${WORK}/oom-*)
  message(FATAL_ERROR "${FUZZER} failed (${result}); inputs that trip it: ${findings}")
endif()
