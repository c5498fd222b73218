# C++-only flags for the module's own objects: nginx has no CXXFLAGS, and these must not
# reach the generated C file.
ag_cxxflags="-std=c++17 -fvisibility=hidden -Wno-missing-field-initializers -Wno-deprecated-declarations"

# And the other way round: C-only warning options in the C flags are errors for the C++
# compiler (Debian 13's dpkg-buildflags adds -Werror=implicit-function-declaration:
# "cc1plus: error: '-Werror=' argument ... is not valid for C++"). Each -W option is tried on
# an empty C++ file after -Werror (which nginx puts first; gcc 14 only warns when -Werror
# comes after the option) and after the options kept before it (-Werror=format-security
# needs -Wformat); those the C++ compiler refuses are left off the module's C++ objects.
# Where there are none (Debian 12), the lines below are what they always were.
ag_kept=
ag_c_only=
for ag_flag in $CFLAGS; do
    case "$ag_flag" in
        -W*)
            if $CC -x c++ -Werror $ag_kept $ag_flag -fsyntax-only /dev/null >/dev/null 2>&1; then
                ag_kept="$ag_kept $ag_flag"
            else
                ag_c_only="$ag_c_only $ag_flag"
            fi
            ;;
        *) ag_kept="$ag_kept $ag_flag" ;;
    esac
done
if test -n "$ag_c_only"; then
    echo " + asset_gate: C-only flags left off the C++ objects:$ag_c_only"
    ag_cflags="CFLAGS := \$(filter-out$ag_c_only,\$(CFLAGS)) $ag_cxxflags"
else
    ag_cflags="CFLAGS += $ag_cxxflags"
fi

for ag_src in `ls $ngx_addon_dir/src/core/*.cpp $ngx_addon_dir/src/ngx/*.cpp`; do
    ag_obj=`echo $ag_src | sed -e "s#^$ngx_addon_dir/src/#addon/#" -e 's#\.cpp$#.o#'`
    echo "$NGX_OBJS/$ag_obj: $ag_cflags" >> $NGX_MAKEFILE
done
