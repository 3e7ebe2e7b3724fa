# moqa_add_module(<module> SOURCES <files...> [DEPS <targets...>] [PRIVATE_DEPS <targets...>])
# Each folder src/<module>/ is one static library `moqa_<module>`; `moqa` is the union of them all.
# Keeping modules as separate targets makes their dependencies explicit and lets a module's tests build
# without compiling the rest of the project.
function(moqa_add_module module)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target moqa_${module})
  add_library(${target} STATIC ${arg_SOURCES})
  add_library(moqa::${module} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/src/generated)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_link_libraries(${target} PUBLIC ${arg_DEPS} PRIVATE ${arg_PRIVATE_DEPS} moqa_warnings)
  set_property(GLOBAL APPEND PROPERTY MOQA_MODULES ${target})
endfunction()
