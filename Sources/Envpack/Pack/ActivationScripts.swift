// The activation scripts every envpack archive carries, like conda-pack's:
// `bin/activate` and `bin/deactivate` are sourced by bash, zsh and POSIX sh
// (dash, ash), `bin/activate.fish` by fish. An unpacked environment can be
// moved anywhere, so they work out the prefix from their own location each
// time instead of hard-coding it, and `deactivate` restores the shell exactly
// as it was. Each script's header comment documents its behaviour; the tests
// run them in real shells (Tests/EnvpackTests/ActivationScriptTests.swift).
public enum ActivationScripts {
    /// Paths inside the environment and their contents, mode 0644 (sourced, not executed).
    public static let files: [(path: String, contents: String)] = [
        ("bin/activate", activate),
        ("bin/deactivate", deactivate),
        ("bin/activate.fish", activateFish),
    ]

    /// POSIX shells (bash, zsh, dash, ash, ksh): `. /path/to/env/bin/activate`.
    static let activate = #"""
# envpack: activate this environment in a POSIX shell (bash, zsh, dash, ash,
# ksh). Source it, do not run it:
#
#     . /path/to/env/bin/activate
#     deactivate                      (or: . /path/to/env/bin/deactivate)
#
# fish users: source /path/to/env/bin/activate.fish
#
# The environment is the directory above the one holding this file, worked out
# every time (nothing is hard-coded), so a moved environment activates from
# wherever it now is:
#   bash: ${BASH_SOURCE[0]};  zsh: ${(%):-%x}.
#   Other shells (dash, busybox ash, ...) cannot name the file they are
#   sourcing, but they keep it open while reading it: the newest open file
#   ending in /bin/activate among the shell's descriptors (/proc/<pid>/fd on
#   Linux, lsof elsewhere) is this script.
#   If that fails too, the current directory is used: run `. bin/activate` from
#   the environment's root (or `. ./activate` from its bin/).
# Symbolic links to this script are followed; the prefix is a physical
# absolute path (cd -P + pwd -P).
#
# Activating sets PATH (the env's bin first), CONDA_PREFIX, CONDA_DEFAULT_ENV
# (the env directory's name), CONDA_SHLVL (one more than before) and puts
# "(name) " in front of PS1 unless ENVPACK_NO_PROMPT is non-empty, then sources
# etc/conda/activate.d/*.sh in sorted order. An envpack environment already
# active in this shell is deactivated first.
# `deactivate` sources etc/conda/deactivate.d/*.sh, puts those variables back
# exactly as they were (unset if they were unset), forgets its own state and
# removes its functions. While active, the shell holds the functions
# deactivate and _envpack_source_hooks and the unexported _ENVPACK_* variables.
# Works under `set -u`.

_envpack_src=
if [ -n "${BASH_VERSION-}" ]; then
    eval '_envpack_src=${BASH_SOURCE[0]-}'
    if [ "$_envpack_src" = "$0" ]; then
        echo "envpack: source this script, do not run it: . $0" >&2
        unset _envpack_src
        exit 1
    fi
elif [ -n "${ZSH_VERSION-}" ]; then
    eval '_envpack_src=${(%):-%x}'
fi

# Sets _envpack_prefix to this environment's absolute path, or fails.
_envpack_locate() {
    _envpack_prefix=
    if [ -z "$_envpack_src" ]; then
        # A shell that cannot name the sourced file: find the file among the
        # descriptors of the process running this (maybe a subshell, so not $$).
        _envpack_pid=$(exec /bin/sh -c 'echo "$PPID"' 2>/dev/null) || _envpack_pid=$$
        if [ -d "/proc/$_envpack_pid/fd" ]; then
            _envpack_best=-1
            for _envpack_fd in "/proc/$_envpack_pid/fd/"*; do
                _envpack_n=${_envpack_fd##*/}
                case $_envpack_n in ''|*[!0-9]*) continue ;; esac
                _envpack_link=$(readlink "$_envpack_fd" 2>/dev/null) || continue
                case $_envpack_link in
                    */bin/activate)
                        if [ "$_envpack_n" -gt "$_envpack_best" ]; then
                            _envpack_best=$_envpack_n
                            _envpack_src=$_envpack_link
                        fi ;;
                esac
            done
        elif command -v lsof >/dev/null 2>&1; then
            _envpack_src=$(lsof -a -p "$_envpack_pid" -d 0-999999 -Fn 2>/dev/null |
                sed -n 's|^n\(/.*/bin/activate\)$|\1|p' | tail -n 1)
        fi
        if [ -z "$_envpack_src" ]; then
            if [ -f bin/activate ]; then
                _envpack_src=bin/activate
            elif [ -f activate ] && [ "${PWD##*/}" = bin ]; then
                _envpack_src=./activate
            fi
        fi
    fi
    # Follow symbolic links to the real script (at most 40, like the kernel).
    _envpack_n=0
    while [ -L "$_envpack_src" ] && [ "$_envpack_n" -lt 40 ]; do
        _envpack_link=$(readlink "$_envpack_src") || break
        case $_envpack_link in
            /*) _envpack_src=$_envpack_link ;;
            *) case $_envpack_src in
                   */*) _envpack_src=${_envpack_src%/*}/$_envpack_link ;;
                   *) _envpack_src=$_envpack_link ;;
               esac ;;
        esac
        _envpack_n=$((_envpack_n + 1))
    done
    case $_envpack_src in
        */*) _envpack_bin=${_envpack_src%/*}; _envpack_bin=${_envpack_bin:-/} ;;
        *) _envpack_bin=. ;;
    esac
    if [ -n "$_envpack_src" ]; then
        _envpack_prefix=$(cd -P -- "$_envpack_bin/.." >/dev/null 2>&1 && pwd -P) || _envpack_prefix=
    fi
    if [ -z "$_envpack_prefix" ] || [ ! -f "${_envpack_prefix%/}/bin/activate" ]; then
        echo "envpack: cannot tell where this environment is; this shell does not say" \
            "which file it is sourcing. Source it from the environment's root directory:" \
            "cd /path/to/env && . bin/activate" >&2
        return 1
    fi
    return 0
}

# Cleans up after this script's own top level.
_envpack_forget() {
    unset _envpack_src _envpack_prefix _envpack_pid _envpack_best _envpack_fd \
        _envpack_n _envpack_link _envpack_bin _envpack_level
    unset -f _envpack_locate _envpack_finish _envpack_forget
}

if ! _envpack_locate; then
    _envpack_forget
    return 1
fi

# Another (or this) envpack environment is active in this shell: leave it.
if [ -n "${_ENVPACK_PREFIX+x}" ]; then
    deactivate
fi

# Sources $1/*$2 in sorted order; runs with nothing to source in zsh and with
# bash's failglob too.
_envpack_source_hooks() {
    [ -d "$1" ] || return 0
    if [ -n "${ZSH_VERSION-}" ]; then
        eval '[ -n "$(setopt nullglob; print -rn -- "$1"/*"$2")" ]' || return 0
    elif [ -n "${BASH_VERSION-}" ]; then
        compgen -G "$1/*$2" >/dev/null || return 0
    fi
    for _envpack_hook in "$1"/*"$2"; do
        if [ -f "$_envpack_hook" ]; then
            . "$_envpack_hook"
        fi
    done
    unset _envpack_hook
    return 0
}

deactivate() {
    if [ -z "${_ENVPACK_PREFIX+x}" ]; then
        echo "envpack: no environment is active in this shell" >&2
        return 1
    fi
    _envpack_source_hooks "${_ENVPACK_PREFIX%/}/etc/conda/deactivate.d" .sh

    if [ -n "${_ENVPACK_OLD_PATH+x}" ]; then PATH=$_ENVPACK_OLD_PATH; else unset PATH; fi
    if [ -n "${_ENVPACK_OLD_CONDA_PREFIX+x}" ]; then
        CONDA_PREFIX=$_ENVPACK_OLD_CONDA_PREFIX
    else
        unset CONDA_PREFIX
    fi
    if [ -n "${_ENVPACK_OLD_CONDA_DEFAULT_ENV+x}" ]; then
        CONDA_DEFAULT_ENV=$_ENVPACK_OLD_CONDA_DEFAULT_ENV
    else
        unset CONDA_DEFAULT_ENV
    fi
    if [ -n "${_ENVPACK_OLD_CONDA_SHLVL+x}" ]; then
        CONDA_SHLVL=$_ENVPACK_OLD_CONDA_SHLVL
    else
        unset CONDA_SHLVL
    fi
    # _ENVPACK_OLD_PS1 exists only if activate changed PS1.
    if [ -n "${_ENVPACK_OLD_PS1+x}" ]; then PS1=$_ENVPACK_OLD_PS1; fi

    unset _ENVPACK_PREFIX _ENVPACK_OLD_PATH _ENVPACK_OLD_CONDA_PREFIX \
        _ENVPACK_OLD_CONDA_DEFAULT_ENV _ENVPACK_OLD_CONDA_SHLVL _ENVPACK_OLD_PS1
    unset -f deactivate _envpack_source_hooks
    hash -r 2>/dev/null
    return 0
}

_envpack_finish() {
    unset _ENVPACK_OLD_PATH _ENVPACK_OLD_CONDA_PREFIX _ENVPACK_OLD_CONDA_DEFAULT_ENV \
        _ENVPACK_OLD_CONDA_SHLVL _ENVPACK_OLD_PS1
    if [ -n "${PATH+x}" ]; then _ENVPACK_OLD_PATH=$PATH; fi
    if [ -n "${CONDA_PREFIX+x}" ]; then _ENVPACK_OLD_CONDA_PREFIX=$CONDA_PREFIX; fi
    if [ -n "${CONDA_DEFAULT_ENV+x}" ]; then _ENVPACK_OLD_CONDA_DEFAULT_ENV=$CONDA_DEFAULT_ENV; fi
    if [ -n "${CONDA_SHLVL+x}" ]; then _ENVPACK_OLD_CONDA_SHLVL=$CONDA_SHLVL; fi
    _ENVPACK_PREFIX=$_envpack_prefix

    case ${CONDA_SHLVL-} in
        ''|*[!0-9]*) _envpack_level=0 ;;
        *) _envpack_level=$CONDA_SHLVL ;;
    esac
    PATH=${_envpack_prefix%/}/bin${PATH:+:$PATH}
    CONDA_PREFIX=$_envpack_prefix
    CONDA_DEFAULT_ENV=${_envpack_prefix##*/}
    CONDA_SHLVL=$((_envpack_level + 1))
    export PATH CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_SHLVL
    if [ -n "${PS1+x}" ] && [ -z "${ENVPACK_NO_PROMPT-}" ]; then
        _ENVPACK_OLD_PS1=$PS1
        PS1="($CONDA_DEFAULT_ENV) $PS1"
    fi
    hash -r 2>/dev/null

    _envpack_source_hooks "${_envpack_prefix%/}/etc/conda/activate.d" .sh
    return 0
}

_envpack_finish
_envpack_forget

"""#

    /// POSIX shells: `. /path/to/env/bin/deactivate`, the same as `deactivate`.
    static let deactivate = #"""
# envpack: leave the environment that `. bin/activate` entered. Source it:
#
#     . /path/to/env/bin/deactivate
#
# It does exactly what the `deactivate` function defined by activate does
# (runs etc/conda/deactivate.d/*.sh, restores PATH, PS1, CONDA_PREFIX,
# CONDA_DEFAULT_ENV and CONDA_SHLVL as they were, removes the functions); it
# only fails, with a message, when no envpack environment is active in this
# shell. Activation state is not exported, so a child shell has nothing to
# deactivate. fish users: run `deactivate` (defined by activate.fish).

if [ -n "${_ENVPACK_PREFIX+x}" ] &&
    case $(type deactivate 2>/dev/null) in *function*) true ;; *) false ;; esac
then
    deactivate
else
    echo "envpack: no environment is active in this shell (activate it with . /path/to/env/bin/activate)" >&2
    return 1
fi

"""#

    /// fish: `source /path/to/env/bin/activate.fish`.
    static let activateFish = #"""
# envpack: activate this environment in fish. Source it, do not run it:
#
#     source /path/to/env/bin/activate.fish
#     deactivate
#
# The environment is the directory above the one holding this file, found from
# `status filename` every time (symbolic links followed, nothing hard-coded),
# so a moved environment activates from wherever it now is.
# Activating prepends the env's bin to PATH, sets CONDA_PREFIX,
# CONDA_DEFAULT_ENV (the env directory's name) and CONDA_SHLVL (one more than
# before), wraps fish_prompt to print "(name) " first unless ENVPACK_NO_PROMPT
# is non-empty, then sources etc/conda/activate.d/*.fish in sorted order. An
# envpack environment already active in this shell is deactivated first.
# `deactivate` sources etc/conda/deactivate.d/*.fish, puts those variables and
# fish_prompt back exactly as they were (erased if they were not set), and
# erases its own variables and functions.

set -l __envpack_script (builtin realpath -- (status filename) 2>/dev/null)
if test -z "$__envpack_script"
    echo "envpack: cannot tell where this environment is; use: source /path/to/env/bin/activate.fish" >&2
    return 1
end
# .../prefix/bin/activate.fish -> .../prefix
set -l __envpack_prefix (string replace -r '/[^/]*/[^/]*$' '' -- $__envpack_script)
test -n "$__envpack_prefix"; or set __envpack_prefix /

# Another (or this) envpack environment is active in this shell: leave it.
if set -q _envpack_prefix; and functions -q deactivate
    deactivate
end

# Sources $argv[1]/*$argv[2] in sorted order.
function __envpack_source_hooks
    for __envpack_hook in $argv[1]/*$argv[2]
        test -f $__envpack_hook; and source $__envpack_hook
    end
end

function deactivate --description 'Leave the envpack environment'
    __envpack_source_hooks (string trim -r -c / -- $_envpack_prefix)/etc/conda/deactivate.d .fish
    for __envpack_var in PATH CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_SHLVL
        set -l __envpack_old _envpack_old_$__envpack_var
        if set -q $__envpack_old
            set -gx $__envpack_var $$__envpack_old
        else
            set -e $__envpack_var
        end
        set -e $__envpack_old
    end
    if functions -q __envpack_old_fish_prompt
        functions -e fish_prompt
        functions -c __envpack_old_fish_prompt fish_prompt
        functions -e __envpack_old_fish_prompt
    end
    set -e _envpack_prefix
    set -e _envpack_prompt
    functions -e deactivate __envpack_source_hooks
end

for __envpack_var in PATH CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_SHLVL
    set -e _envpack_old_$__envpack_var
    if set -q $__envpack_var
        set -g _envpack_old_$__envpack_var $$__envpack_var
    end
end
set -e __envpack_var
set -g _envpack_prefix $__envpack_prefix

set -l __envpack_level 0
if string match -qr '^[0-9]+$' -- "$CONDA_SHLVL"
    set __envpack_level $CONDA_SHLVL
end
set -gx PATH (string trim -r -c / -- $__envpack_prefix)/bin $PATH
set -gx CONDA_PREFIX $__envpack_prefix
set -gx CONDA_DEFAULT_ENV (string replace -r '.*/' '' -- $__envpack_prefix)
set -gx CONDA_SHLVL (math $__envpack_level + 1)

if test -z "$ENVPACK_NO_PROMPT"; and functions -q fish_prompt
    set -g _envpack_prompt "($CONDA_DEFAULT_ENV) "
    functions -c fish_prompt __envpack_old_fish_prompt
    function fish_prompt
        # Give the original prompt the status of the last command.
        set -l __envpack_status $status
        printf '%s' $_envpack_prompt
        echo "exit $__envpack_status" | source
        __envpack_old_fish_prompt
    end
end

__envpack_source_hooks (string trim -r -c / -- $__envpack_prefix)/etc/conda/activate.d .fish

"""#
}
