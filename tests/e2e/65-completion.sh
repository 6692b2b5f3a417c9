#!/usr/bin/env bash
# Shell completion: the scripts imagen generates complete what its tables accept, names
# from the user's config, and files; make install puts them where the shells look.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C.UTF-8

# imagen on $PATH under its own name, as an installed one would be
on_path() {
	mkdir -p "$T_TMP/bin"
	ln -sf "$IMAGEN" "$T_TMP/bin/imagen"
	export PATH="$T_TMP/bin:$PATH"
}

config_with_names() {
	write_config "$CFG" <<'EOF'
defaults:
  backend: gpu
styles:
  noir: "black and white"
backends:
  gpu:
    type: mock
  flux-local:
    type: mock
EOF
}

# Ask the bash completion function what it offers for a command line, the words given
# as bash would split them (the last one is the word being completed).
bash_complete() { # words...
	bash -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_imagen
		printf "%s\n" "${COMPREPLY[@]}"' _ "$T_TMP/imagen.bash" "$@" | sort | tr '\n' ' ' | sed 's/ $//'
}

test_bash_completes_backend_names_from_the_config() {
	config_with_names
	on_path
	im completion bash
	expect_rc 0
	printf '%s\n' "$OUT" >"$T_TMP/imagen.bash"
	bash -n "$T_TMP/imagen.bash" || fail "bash rejects the script"
	expect_eq "$(bash_complete imagen generate -b '')" "flux-local gpu mock" "generate -b <TAB>"
	expect_eq "$(bash_complete imagen generate --backend f)" "flux-local" "--backend f<TAB>"
	# bash splits --backend=x at '=' (COMP_WORDBREAKS)
	expect_eq "$(bash_complete imagen generate --backend = '')" "flux-local gpu mock" "--backend=<TAB>"
	expect_eq "$(bash_complete imagen generate -s '')" "noir none" "generate -s <TAB>"
	expect_eq "$(bash_complete imagen generate --preview = '')" "auto off on" "--preview=<TAB>"
	# -c on the command line is the config the names come from
	printf 'backends:\n  other:\n    type: mock\n' >"$T_TMP/other.yaml"
	expect_eq "$(bash_complete imagen -c "$T_TMP/other.yaml" generate -b '')" "mock other" "-c FILE"
	# an unusable config: no names, no noise
	expect_eq "$(bash_complete imagen -c /nonexistent generate -b '')" "" "bad config"
}

test_bash_completes_commands_options_and_files() {
	on_path
	"$IMAGEN" completion bash >"$T_TMP/imagen.bash"
	# the commands are exactly those of imagen --help: generated from the same table
	im --help
	cmds=$(sed -n '/^commands:/,/^$/p' <<<"$OUT" | awk 'NF && $1 != "commands:" {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')
	expect_eq "$(bash_complete imagen '')" "$cmds" "commands"
	# generate's long options are exactly those its help lists (plus the common ones)
	im help generate
	opts=$(grep -oE -- '--[a-z][a-z-]+' <<<"$OUT" | sort -u | tr '\n' ' ' | sed 's/ $//')
	expect_eq "$(bash_complete imagen generate -- | tr ' ' '\n' | grep -- '^--' | sort -u | tr '\n' ' ' | sed 's/ $//')" \
		"$opts" "generate options"
	expect_eq "$(bash_complete imagen generate --st)" "--steps --strength --style"
	expect_eq "$(bash_complete imagen -)" "--config --help --quiet --verbose --version -c -h -q -v" "global options"
	# subcommands, and a file only after those that take one
	expect_eq "$(bash_complete imagen config '')" "init path show validate" "config"
	mkdir -p d && touch d/one.png d/two.yaml
	expect_eq "$(bash_complete imagen config validate d/t)" "d/two.yaml" "config validate FILE"
	expect_eq "$(bash_complete imagen config show d/t)" "" "config show takes no file"
	expect_eq "$(bash_complete imagen inspect d/o)" "d/one.png" "inspect FILE"
	expect_eq "$(bash_complete imagen show d/)" "d/one.png d/two.yaml" "show FILE"
	expect_eq "$(bash_complete imagen generate --from d/o)" "d/one.png" "--from FILE"
	expect_eq "$(bash_complete imagen generate -o d)" "d" "-o DIR"
	expect_eq "$(bash_complete imagen help gen)" "generate" "help COMMAND"
	expect_eq "$(bash_complete imagen completion '')" "bash fish zsh" "completion SHELL"
	# a prompt word gets nothing
	expect_eq "$(bash_complete imagen generate a)" "" "prompt"
}

test_completion_errors() {
	im completion
	expect_rc 2
	expect_one_error_line
	im completion tcsh
	expect_rc 2
	expect_eq "$ERR" "imagen: completion: unknown shell 'tcsh' (expected bash, zsh or fish)"
	im completion names nope
	expect_rc 2
	expect_one_error_line
	config_with_names
	im completion names backends
	expect_rc 0
	expect_eq "$(sort <<<"$OUT" | tr '\n' ' ')" "flux-local gpu mock " "names backends"
	im completion names styles
	expect_eq "$OUT" "none
noir" "names styles"
}

# Shells that are missing are reported as skipped (scripts/deps.sh installs them).
skip() { echo "ok 0 - $(basename "$0" .sh): $1 is not installed # SKIP"; }
has() { command -v "$1" >/dev/null 2>&1 || { skip "$1"; return 1; }; }

has fish && test_fish_completes_names_and_commands() {
	config_with_names
	on_path
	"$IMAGEN" completion fish >"$T_TMP/imagen.fish"
	fish --no-config -n "$T_TMP/imagen.fish" || fail "fish rejects the script"
	fc() { fish --no-config -c "source '$T_TMP/imagen.fish'; complete -C '$1'" | cut -f1 | sort | tr '\n' ' ' | sed 's/ $//'; }
	expect_eq "$(fc 'imagen generate -b ')" "flux-local gpu mock" "fish: generate -b"
	expect_eq "$(fc 'imagen generate --preview=')" "--preview=auto --preview=off --preview=on" "fish: --preview="
	expect_eq "$(fc 'imagen config ')" "init path show validate" "fish: config"
	expect_eq "$(fc 'imagen generate a')" "" "fish: prompt"
	expect_match "$(fc 'imagen ')" "completion .*generate .*show " "fish: commands"
}

# zsh's completion system only runs inside its line editor: type into a real zsh in a
# private tmux pane and read the screen.
has zsh && has tmux && test_zsh_completes_names_in_an_interactive_shell() {
	config_with_names
	on_path
	"$IMAGEN" completion zsh >"$T_TMP/_imagen"
	zsh -n "$T_TMP/_imagen" || fail "zsh rejects the script"
	mkdir -p "$T_TMP/zdot"
	printf '%s\n' "PS1='%% '" 'autoload -U compinit; compinit -u -D' \
		"source '$T_TMP/_imagen'" >"$T_TMP/zdot/.zshrc"
	TSOCK=$T_TMP/tmux.sock
	trap 'tmux -S "$TSOCK" kill-server >/dev/null 2>&1' EXIT
	ZDOTDIR="$T_TMP/zdot" tmux -S "$TSOCK" -f /dev/null new-session -d -s z -x 120 -y 20 \
		"ZDOTDIR='$T_TMP/zdot' PATH='$PATH' HOME='$HOME' zsh -i"
	for i in $(seq 50); do
		tmux -S "$TSOCK" capture-pane -p -t z | grep -q '^%' && break
		sleep 0.1
	done
	tmux -S "$TSOCK" send-keys -t z 'imagen generate -b ' Tab Tab
	for i in $(seq 50); do
		screen=$(tmux -S "$TSOCK" capture-pane -p -t z)
		grep -q 'flux-local' <<<"$screen" && break
		sleep 0.1
	done
	expect_match "$screen" 'flux-local +gpu +mock' "zsh: generate -b <TAB><TAB>"
}

has tmux && test_bash_interactive_splits_at_equals_as_expected() {
	on_path
	"$IMAGEN" completion bash >"$T_TMP/imagen.bash"
	printf '%s\n' "PS1='\$ '" "source '$T_TMP/imagen.bash'" >"$T_TMP/bashrc"
	TSOCK=$T_TMP/tmux.sock
	trap 'tmux -S "$TSOCK" kill-server >/dev/null 2>&1' EXIT
	tmux -S "$TSOCK" -f /dev/null new-session -d -s b -x 120 -y 20 \
		"PATH='$PATH' HOME='$HOME' bash --noprofile --rcfile '$T_TMP/bashrc' -i"
	for i in $(seq 50); do
		tmux -S "$TSOCK" capture-pane -p -t b | grep -q '^\$' && break
		sleep 0.1
	done
	tmux -S "$TSOCK" send-keys -t b 'imagen generate --preview=' Tab Tab
	for i in $(seq 50); do
		screen=$(tmux -S "$TSOCK" capture-pane -p -t b)
		grep -q 'auto' <<<"$screen" && break
		sleep 0.1
	done
	expect_match "$screen" 'auto +off +on' "bash: --preview=<TAB><TAB>"
}

test_make_install_puts_completions_where_shells_look() {
	san=""
	[[ ${BUILD:-build} == *san* ]] && san="SAN=1"
	make -s -C "$REPO_DIR" $san BUILD="${BUILD:-build}" install PREFIX=/usr DESTDIR="$T_TMP/root" \
		>"$T_TMP/make.log" 2>&1 || fail "make install failed: $(cat "$T_TMP/make.log")"
	r=$T_TMP/root/usr/share
	expect_eq "$(cat "$r/bash-completion/completions/imagen")" "$("$IMAGEN" completion bash)" bash
	expect_eq "$(cat "$r/zsh/vendor-completions/_imagen")" "$("$IMAGEN" completion zsh)" zsh
	expect_eq "$(cat "$r/fish/vendor_completions.d/imagen.fish")" "$("$IMAGEN" completion fish)" fish
}

# Where make install puts the scripts must be where the shells themselves look, for the
# default prefix as for Debian's /usr: asked of zsh ($fpath) and fish ($fish_complete_path,
# with the XDG default data directories).
installed_dir() { # DESTDIR name: the directory make install wrote NAME to, DESTDIR removed
	local f
	f=$(find "$1" -name "$2" -type f | head -1)
	[ -n "$f" ] || fail "make install wrote no $2 under $1"
	dirname "${f#"$1"}"
}

test_make_install_dirs_are_on_the_shells_search_paths() {
	san=""
	[[ ${BUILD:-build} == *san* ]] && san="SAN=1"
	for prefix in /usr/local /usr; do
		d=$T_TMP/root$prefix
		make -s -C "$REPO_DIR" $san BUILD="${BUILD:-build}" install PREFIX=$prefix DESTDIR="$d" \
			>"$T_TMP/make.log" 2>&1 || fail "make install failed: $(cat "$T_TMP/make.log")"
		expect_eq "$(installed_dir "$d" imagen)" "$prefix/share/bash-completion/completions" \
			"bash completion dir (bash-completion: \$XDG_DATA_DIRS/bash-completion/completions)"
		if command -v zsh >/dev/null 2>&1; then
			zdir=$(installed_dir "$d" _imagen)
			zsh -fc 'print -l $fpath' | grep -qxF -- "$zdir" ||
				fail "PREFIX=$prefix: zsh completion in $zdir, not on zsh's \$fpath: $(zsh -fc 'print $fpath')"
		fi
		if command -v fish >/dev/null 2>&1; then
			fdir=$(installed_dir "$d" imagen.fish)
			env -u XDG_CONFIG_HOME HOME="$T_TMP/fishhome" XDG_DATA_DIRS=/usr/local/share:/usr/share \
				fish -c 'printf "%s\n" $fish_complete_path' | grep -qxF -- "$fdir" ||
				fail "PREFIX=$prefix: fish completion in $fdir, not on fish's \$fish_complete_path"
		fi
	done
}

run_tests
