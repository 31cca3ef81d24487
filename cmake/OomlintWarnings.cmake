# Warnings for our own code (not the generated grammar). -Werror only when asked (CI, dev).
# -Wnull-dereference is left out: GCC 12 reports it inside libstdc++ streams and fmt at -O2.
add_library(oomlint_warnings INTERFACE)
target_compile_options(oomlint_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wcast-align -Wdouble-promotion -Wextra-semi)
if(OOMLINT_WERROR)
  target_compile_options(oomlint_warnings INTERFACE -Werror)
endif()
