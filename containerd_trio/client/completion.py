"""``ctr-trio completion bash|zsh``: a shell completion script, generated from the parser.

The script holds the command tree as tables (the subcommands, options and options that take a
value of each command path), so it never runs ``ctr-trio`` to complete a command or an option;
it does run ``ctr-trio ps -a -q`` (with ``--retry 0``, so a missing daemon costs nothing) where a
container id is expected, which asks the daemon at ``$CONTAINERD_TRIO_ADDRESS`` or the default
(bash splits ``unix:/path`` into three words, so an ``--address`` on the line is not followed).
zsh runs the same function through its ``bashcompinit``.

    source <(ctr-trio completion bash)      # in ~/.bashrc
    source <(ctr-trio completion zsh)       # in ~/.zshrc, after compinit
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

from .cli import Switch

FUNCTION = "_ctr_trio"

_BODY = r"""
    [[ -n ${ZSH_VERSION-} ]] && setopt localoptions ksharrays
    local cur=${COMP_WORDS[COMP_CWORD]} path=__PROG__ word value= i given=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == = ]]; then
            value=${COMP_WORDS[i - 1]}  # --option=value, which bash splits in three words
        elif [[ -n $value ]]; then
            value=
        elif [[ " ${_ctr_trio_valued[$path]} " == *" $word "* ]]; then
            value=$word
        elif [[ $word != -* && " ${_ctr_trio_commands[$path]} " == *" $word "* ]]; then
            path="$path $word"
            given=0
        elif [[ $word != -* ]]; then
            given=$((given + 1))  # the command's positional arguments given so far
        fi
    done
    if [[ $cur == = ]]; then  # --option=<TAB>: its value comes
        value=${COMP_WORDS[COMP_CWORD - 1]}
        cur=
    fi
    if [[ -n $value ]]; then
        local choices=${_ctr_trio_choices[$path $value]}
        if [[ -n $choices ]]; then
            COMPREPLY=($(compgen -W "$choices" -- "$cur"))
        else
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${_ctr_trio_options[$path]}" -- "$cur"))
        return 0
    fi
    local words="${_ctr_trio_commands[$path]} ${_ctr_trio_choices[$path]}"
    # Ids where one goes: every positional of a command of several (rm ID...), the first of
    # one of one ID (not logs ID's next word, nor wait's PID, exec's command, a checkpoint's NAME).
    if [[ ${_ctr_trio_ids[$path]} == several || ( -n ${_ctr_trio_ids[$path]} && $given == 0 ) ]]
    then
        words="$words $("${COMP_WORDS[0]}" --retry 0 ps -a -q 2>/dev/null)"
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
"""


def _paths(
    parser: argparse.ArgumentParser, path: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Each command path (``ctr-trio containers start``) and its parser, aliases included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _paths(sub, f"{path} {name}")


def _signals() -> list[str]:
    """What ``kill -s`` offers: the names ``kill -l`` lists, without SIG, as docker's
    completion offers them (numbers and the SIG prefix are taken too, but not offered)."""
    from ..signals import LISTED_NAMES

    return [name.removeprefix("SIG") for name in LISTED_NAMES]


def _tables(parser: argparse.ArgumentParser, prog: str) -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {
        name: {} for name in ("commands", "options", "valued", "choices", "ids")
    }
    for path, command in _paths(parser, prog):
        options: list[str] = []
        valued: list[str] = []
        commands: list[str] = []
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                commands += list(action.choices)
            elif isinstance(action, Switch):
                # Its value only after an =, never the next word: offered as one writes it,
                # docker's way (--sig-proxy=false; alone it is the default, true).
                options += [f"{option}=false" for option in action.option_strings]
                for option in action.option_strings:
                    tables["choices"][f"{path} {option}"] = "true false"
            elif action.option_strings:
                options += action.option_strings
                if action.nargs != 0:
                    valued += action.option_strings
                    choices = _signals() if action.metavar == "SIG" else action.choices
                    if choices:
                        for option in action.option_strings:
                            tables["choices"][f"{path} {option}"] = " ".join(choices)
            elif action.choices:  # a positional with choices: completion bash|zsh
                tables["choices"][path] = " ".join(map(str, action.choices))
            elif action.metavar == "ID":  # the first positional wherever it is one
                tables["ids"][path] = "several" if action.nargs in ("+", "*") else "one"
        for name, words in (("commands", commands), ("options", options), ("valued", valued)):
            if words:
                tables[name][path] = " ".join(words)
    return tables


def bash_function(parser: argparse.ArgumentParser, prog: str) -> str:
    lines = []
    for name, table in _tables(parser, prog).items():
        lines.append(f"declare -gA _ctr_trio_{name}=(")
        lines += [f"    [{shlex.quote(key)}]={shlex.quote(value)}" for key, value in table.items()]
        lines.append(")")
    body = _BODY.replace("__PROG__", shlex.quote(prog))
    return "\n".join([*lines, f"{FUNCTION}() {{{body}}}", f"complete -F {FUNCTION} {prog}", ""])


def script(shell: str, parser: argparse.ArgumentParser, prog: str) -> str:
    header = f"# {shell} completion for {prog}, made by `{prog} completion {shell}`\n"
    if shell == "zsh":
        header += "autoload -U +X bashcompinit && bashcompinit\n"
    return header + bash_function(parser, prog)
