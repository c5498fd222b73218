# C++-only flags for the module's own objects: nginx has no CXXFLAGS, and these must not
# reach the generated C file.
for ag_src in `ls $ngx_addon_dir/src/core/*.cpp $ngx_addon_dir/src/ngx/*.cpp`; do
    ag_obj=`echo $ag_src | sed -e "s#^$ngx_addon_dir/src/#addon/#" -e 's#\.cpp$#.o#'`
    echo "$NGX_OBJS/$ag_obj: CFLAGS += -std=c++17 -fvisibility=hidden -Wno-missing-field-initializers -Wno-deprecated-declarations" >> $NGX_MAKEFILE
done
