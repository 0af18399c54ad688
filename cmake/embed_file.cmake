# Turn a file into a C array at build time: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed_file.cmake
# (the web page that plinth serve answers at /; no build step beyond this, nothing fetched).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
string(REGEX REPLACE "((0x..,){32})" "\\1\n" hex "${hex}")
file(WRITE "${OUT}.tmp" "/* generated from ${IN} by cmake/embed_file.cmake */\n#include <stddef.h>\n"
     "const unsigned char ${NAME}[] = {\n${hex}0};\nconst size_t ${NAME}_len = ${n};\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
