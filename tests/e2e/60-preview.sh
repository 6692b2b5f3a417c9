#!/usr/bin/env bash
# Previews: a tmux window running the viewer (real tmux on a private socket, a recording
# fake viewer), inline drawing under a pseudo-terminal (tmux panes and script(1)), the
# auto/on/off rules, and imagen show.
. "$(dirname "$0")/lib.sh"

if ! command -v tmux >/dev/null 2>&1; then
	echo "ok 1 - 60-preview: tmux is not installed (scripts/deps.sh installs it) # SKIP"
	exit 0
fi
export LC_ALL=C.UTF-8
# what the developer's or CI's terminal says must not decide these tests ($CI turns auto off)
unset CI TMUX_PANE TERM_PROGRAM KITTY_WINDOW_ID COLORTERM COLUMNS LINES

# ---- helpers ----

# A private tmux server (never the user's): one session "t", its pane idle.
tmux_start() { # [width height]
	TSOCK=$T_TMP/tmux.sock
	KEEP_PID=
	trap 'tmux -S "$TSOCK" kill-server >/dev/null 2>&1; [ -z "$KEEP_PID" ] || kill "$KEEP_PID"' EXIT
	tmux -S "$TSOCK" -f /dev/null new-session -d -s t -n main -x "${1:-120}" -y "${2:-40}" "sleep 600" ||
		fail "cannot start tmux"
	tx set -g default-shell /bin/sh
	tx set -g remain-on-exit off
}

tx() { tmux -S "$TSOCK" "$@"; }

# Run shell text in the pane of window 0 (a terminal; $TMUX and $TMUX_PANE are tmux's) and
# wait for it.  imagen's stderr goes to $T_TMP/pane.err.  Sets RC and ERR.
in_pane() { # shell text
	local i
	rm -f "$T_TMP/pane.rc" "$T_TMP/pane.err"
	printf '%s\n' "cd '$HOME' || exit 1" "$1" 'echo $? >"$T_TMP/pane.rc.tmp"' \
		'mv "$T_TMP/pane.rc.tmp" "$T_TMP/pane.rc"' 'exec sleep 600' >"$T_TMP/pane.sh"
	tx respawn-pane -k -t t:0 "T_TMP='$T_TMP' IMAGEN='$IMAGEN' HOME='$HOME' /bin/sh '$T_TMP/pane.sh'"
	for i in $(seq 100); do
		[ -f "$T_TMP/pane.rc" ] && break
		sleep 0.1
	done
	[ -f "$T_TMP/pane.rc" ] || fail "the command in the tmux pane did not finish: $1"
	RC=$(cat "$T_TMP/pane.rc")
	ERR=$(cat "$T_TMP/pane.err" 2>/dev/null)
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$ERR" || [ "$RC" -ge 98 ]; then
		fail "sanitizer finding (rc $RC) in the pane running $1:
$ERR"
	fi
}

windows() { tx list-windows -t t -F '#{window_index} #{window_active} #{window_name}'; }

# The fake viewer records its arguments, one per line, then stays (as a viewer would).
fake_viewer() {
	cat >"$T_TMP/viewer" <<EOF
#!/bin/sh
for a in "\$@"; do printf '%s\n' "\$a"; done >>"$T_TMP/viewer.log"
exec sleep 600
EOF
	chmod +x "$T_TMP/viewer"
	write_config "$CFG" <<EOF
preview:
  command: "$T_TMP/viewer {path}"
$*
EOF
}

wait_for_file() { # path
	local i
	for i in $(seq 50); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- tmux: a window running the viewer ----

test_tmux_window_runs_viewer_on_exactly_the_written_file() {
	tmux_start
	fake_viewer
	in_pane '"$IMAGEN" generate --preview=on --seed 42 "a red fox" >"$T_TMP/out" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_eq "$ERR" "" stderr
	img=$(cat "$T_TMP/out")
	expect_file "$img"
	wait_for_file "$T_TMP/viewer.log" || fail "the viewer never ran"
	expect_eq "$(cat "$T_TMP/viewer.log")" "$img" "viewer arguments"
	name=$(basename "$img" .png)
	expect_match "$name" '^[0-9]{4}-[0-9]{2}-[0-9]{2}-a-red-fox-42$' "window name"
	# a second window, named after the image, not focused; imagen did not wait for it
	expect_eq "$(windows)" "0 1 main
1 0 $name" windows
	# the path is an argument of the shell, never part of its text
	cmd=$(tx list-panes -t t:1 -F '#{pane_start_command}')
	expect_contains "$cmd" "$T_TMP/viewer \\\"\\\${IMAGEN_IMAGE}\\\"\" imagen-preview $img" "start command"
	expect_eq "$(tx list-panes -t t:1 -F '#{pane_current_path}')" "$HOME" "viewer's directory"
}

test_tmux_command_never_runs_code_from_a_file_name() {
	tmux_start
	im generate --seed 1 -o s "hostile"
	# a file name built to break out of every kind of quoting
	evil='s/$(touch pwned1)`touch pwned2`'"'"'"; touch pwned3; ".png'
	cp "$OUT" "$evil"
	printf '%s\n' "$evil" >"$T_TMP/evil.name"
	# the issue's examples (double quotes, sh -c '...'), plain, and a user's own quotes
	for tmpl in 'echo "{path}" >>VLOG' "sh -c 'echo {path} >>VLOG'" 'echo {path} >>VLOG' \
		"echo '{path}' >>VLOG"; do
		rm -f "$T_TMP/viewer.log"
		tmpl=${tmpl//VLOG/$T_TMP/viewer.log}
		mkdir -p "$(dirname "$CFG")"
		printf 'preview:\n  command: %s\n' "$(jq -n --arg t "$tmpl" '$t')" >"$CFG"
		"$IMAGEN" config validate >/dev/null || fail "config refused: $tmpl"
		in_pane '"$IMAGEN" show "$(cat "$T_TMP/evil.name")" 2>"$T_TMP/pane.err"'
		expect_rc 0
		expect_eq "$ERR" "" stderr
		wait_for_file "$T_TMP/viewer.log" || fail "the viewer never ran: $tmpl"
		expect_eq "$(cat "$T_TMP/viewer.log")" "$HOME/$evil" "what $tmpl saw"
		for f in pwned1 pwned2 pwned3; do
			expect_no_file "$HOME/$f"
		done
	done
}

test_tmux_auto_on_a_terminal_opens_a_window_and_focus_is_honoured() {
	tmux_start
	fake_viewer "  focus: true"
	# stdout is the pane's terminal: auto previews
	in_pane '"$IMAGEN" generate --seed 5 "auto fox" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_eq "$ERR" "" stderr
	wait_for_file "$T_TMP/viewer.log" || fail "auto on a terminal did not preview"
	img=$(cat "$T_TMP/viewer.log")
	expect_file "$img"
	# the path was printed on the pane's terminal, above nothing else
	expect_contains "$(tx capture-pane -p -J -t t:0)" "$img" "pane"
	expect_eq "$(windows)" "0 0 main
1 1 $(basename "$img" .png)" "windows (focus: true)"
}

test_tmux_no_window_with_no_preview_json_pipe_quiet_or_ci() {
	tmux_start
	fake_viewer
	in_pane '"$IMAGEN" generate --no-preview "one" 2>"$T_TMP/pane.err"'
	expect_rc 0
	in_pane '"$IMAGEN" generate --json "two" 2>"$T_TMP/pane.err"'
	expect_rc 0
	in_pane '"$IMAGEN" generate "three" >"$T_TMP/piped" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_file "$(cat "$T_TMP/piped")"
	in_pane '"$IMAGEN" generate "four" | cat >/dev/null' # stderr stays on the pane
	in_pane '"$IMAGEN" -q generate "five" 2>"$T_TMP/pane.err"'
	expect_rc 0
	in_pane 'CI=true "$IMAGEN" generate "six" 2>"$T_TMP/pane.err"'
	expect_rc 0
	in_pane 'IMAGEN_PREVIEW=off "$IMAGEN" generate "seven" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_eq "$(count_files "$HOME/Pictures/imagen" '*.png')" 7 "images written"
	sleep 0.3
	expect_eq "$(windows)" "0 1 main" windows
	expect_no_file "$T_TMP/viewer.log"
}

test_tmux_one_window_per_image_of_a_run() {
	tmux_start
	fake_viewer
	in_pane '"$IMAGEN" generate --preview=on --count 3 --seed 10 "trio" >"$T_TMP/out" 2>"$T_TMP/pane.err"'
	expect_rc 0
	for i in $(seq 30); do
		[ "$(wc -l <"$T_TMP/viewer.log" 2>/dev/null)" = 3 ] && break
		sleep 0.1
	done
	expect_eq "$(sort "$T_TMP/viewer.log")" "$(sort "$T_TMP/out")" "viewer arguments"
	expect_eq "$(tx list-windows -t t -F '#{window_name}' | sed 1d | sort)" \
		"$(xargs -n1 basename -s .png <"$T_TMP/out" | sort)" "window names"
}

test_tmux_without_a_viewer_one_line_says_what_to_install() {
	tmux_start
	mkdir -p "$T_TMP/bin"
	in_pane 'PATH="$T_TMP/bin" "$IMAGEN" generate --preview=on "no viewer" >"$T_TMP/out" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_file "$(cat "$T_TMP/out")"
	expect_one_error_line
	expect_contains "$ERR" "imagen: preview: no image viewer found"
	expect_contains "$ERR" "install chafa"
	expect_eq "$(windows)" "0 1 main" windows
}

# Fake tmux-img, chafa and timg on a $PATH of their own: each records "NAME ARGS..."; tmux-img
# stays like a viewer, chafa and timg draw and exit as the real ones do.
fake_viewers() { # names...
	local n stay
	VBIN=$T_TMP/vbin
	rm -rf "$VBIN"
	mkdir -p "$VBIN"
	ln -s "$(command -v tmux)" "$VBIN/tmux"
	for n in "$@"; do
		stay="exit 0"
		[ "$n" = tmux-img ] && stay="exec /bin/sleep 600"
		cat >"$VBIN/$n" <<EOF
#!/bin/sh
printf '%s\n' "$n \$*" >>"$T_TMP/viewer.log"
$stay
EOF
		chmod +x "$VBIN/$n"
	done
}

# One run inside the pane with only $VBIN on imagen's $PATH; VIEWED gets what was viewed.
view_with_path() {
	rm -f "$T_TMP/viewer.log"
	in_pane 'PATH="$T_TMP/vbin" "$IMAGEN" generate --preview=on "order" >"$T_TMP/out" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_eq "$ERR" "" stderr
	wait_for_file "$T_TMP/viewer.log" || fail "no viewer ran (windows: $(windows))"
	VIEWED=$(cat "$T_TMP/viewer.log")
}

test_tmux_viewer_order_is_command_then_tmux_img_chafa_timg() {
	tmux_start
	fake_viewers tmux-img chafa timg
	view_with_path
	expect_eq "$VIEWED" "tmux-img $(cat "$T_TMP/out")" "with all three"
	tx kill-window -t t:1

	fake_viewers chafa timg
	view_with_path
	img=$(cat "$T_TMP/out")
	expect_eq "$VIEWED" "chafa $img" "without tmux-img"
	# chafa has drawn and exited: the window stays until Enter, then closes
	sleep 0.5
	expect_eq "$(windows)" "0 1 main
1 0 $(basename "$img" .png)" "window held after chafa exited"
	expect_contains "$(tx capture-pane -p -t t:1)" "press Enter to close" "held window"
	tx send-keys -t t:1 Enter
	for i in $(seq 50); do
		[ "$(windows)" = "0 1 main" ] && break
		sleep 0.1
	done
	expect_eq "$(windows)" "0 1 main" "windows after Enter"

	fake_viewers timg
	view_with_path
	expect_eq "$VIEWED" "timg $(cat "$T_TMP/out")" "only timg"
	tx kill-window -t t:1

	# preview.command comes before all of them
	fake_viewers tmux-img chafa timg
	write_config "$CFG" <<EOF
preview:
  command: "$VBIN/timg --from-config {path}"
EOF
	view_with_path
	expect_eq "$VIEWED" "timg --from-config $(cat "$T_TMP/out")" "preview.command first"
}

test_tmux_config_init_example_command_runs_and_holds_the_window() {
	tmux_start
	fake_viewers chafa
	# the example `config init` writes, uncommented: a bare name found only on the
	# $PATH imagen runs with (not the tmux server's), a window that waits for Enter
	"$IMAGEN" config init >/dev/null || fail "config init failed"
	sed -i 's/^  # command: /  command: /' "$CFG"
	expect_match "$(grep '^  command: ' "$CFG")" '^  command: "chafa \{path\}; read -r _"$' "example"
	view_with_path
	img=$(cat "$T_TMP/out")
	expect_eq "$VIEWED" "chafa $img" "the example ran chafa on the image"
	sleep 0.5
	expect_eq "$(windows)" "0 1 main
1 0 $(basename "$img" .png)" "window held after chafa exited"
}

test_preview_failure_keeps_exit_code_and_image() {
	fake_viewer
	# $TMUX names a server that is not there: tmux fails, generate still succeeds
	TMUX="$T_TMP/gone.sock,1,0" im generate --preview=on --seed 8 "stale tmux"
	expect_rc 0
	expect_file "$OUT"
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	expect_one_error_line
	expect_match "$ERR" "^imagen: preview: tmux new-window: "
	# auto with stdout not a terminal: nothing attempted, nothing said
	TMUX="$T_TMP/gone.sock,1,0" im generate --seed 8 "stale tmux"
	expect_rc 0
	expect_eq "$ERR" "" stderr
}

# ---- inline: symbols in a tmux pane, passthrough to the outer terminal ----

# Display width of each line (ANSI escapes removed).
widths() {
	/usr/bin/python3 -c '
import re, sys
for line in sys.stdin.read().splitlines():
    print(len(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line)))'
}

test_inline_symbols_in_a_tmux_pane_fit_the_width() {
	tmux_start 60 40
	write_config "$CFG" <<<$'preview:\n  inline: true'
	in_pane '"$IMAGEN" generate --seed 3 -W 1024 -H 256 -o out "wide" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_eq "$ERR" "" stderr
	screen=$(tx capture-pane -p -J -t t:0 | sed '/^ *$/d')
	img=$(ls "$HOME"/out/*.png)
	expect_eq "$(head -1 <<<"$screen")" "$img" "first line: the path"
	pic=$(sed 1d <<<"$screen")
	rows=$(grep -c '[▀▄█▌▐▁▂▃▅▆▇▉▊▋▍▎▏▔▕▖▗▘▙▚▛▜▝▞▟ ]' <<<"$pic")
	[ "$rows" -ge 4 ] || fail "no symbols picture under the path:
$screen"
	# the Unicode drawing is only block/shade/space characters, sized to the 60 columns
	max=$(widths <<<"$pic" | sort -n | tail -1)
	[ "$max" -le 60 ] || fail "picture is $max columns wide in a 60-column pane"
	[ "$max" -ge 50 ] || fail "picture is only $max columns wide: not sized to the pane"
	expect_eq "$(windows)" "0 1 main" "no window with inline: true"
}

test_inline_through_tmux_passthrough_reaches_the_outer_terminal() {
	command -v script >/dev/null || fail "script(1) missing"
	tmux_start 100 40
	write_config "$CFG" <<<$'preview:\n  inline: true'
	# an outer terminal that says it is kitty: a terminfo entry under that name
	mkdir -p "$T_TMP/terminfo"
	infocmp -x xterm-256color | sed '/^#/d' | sed '1s/^xterm-256color|[^,]*,/xterm-kitty|test,/' |
		tic -x -o "$T_TMP/terminfo" - 2>/dev/null || fail "tic failed"
	# the client lives until the server is killed; sleep keeps script's stdin open
	exec 7< <(exec sleep 60)
	KEEP_PID=$!
	TERMINFO="$T_TMP/terminfo" TERM=xterm-kitty SHELL=/bin/sh \
		script -qfc "stty cols 100 rows 40; tmux -S '$TSOCK' attach -t t" "$T_TMP/client.out" \
		<&7 >/dev/null 2>&1 &
	exec 7<&-
	for i in $(seq 50); do
		[ -n "$(tx list-clients -F '#{client_termname}')" ] && break
		sleep 0.1
	done
	expect_eq "$(tx list-clients -F '#{client_termname}')" xterm-kitty "attached client"

	# passthrough off (tmux's default): symbols, nothing for the outer terminal
	in_pane '"$IMAGEN" generate --seed 4 -W 256 -H 128 "pass" 2>"$T_TMP/pane.err"'
	expect_rc 0
	sleep 0.5
	grep -q $'\e_G' "$T_TMP/client.out" && fail "kitty graphics sent without allow-passthrough"
	tx capture-pane -p -t t:0 | grep -q '[▀▄▌▐█]' || fail "no symbols fallback in the pane"

	tx set -g allow-passthrough on
	in_pane '"$IMAGEN" generate --seed 4 -W 256 -H 128 "pass" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_eq "$ERR" "" stderr
	for i in $(seq 30); do
		grep -q $'\e_Ga=T' "$T_TMP/client.out" && break
		sleep 0.1
	done
	grep -q $'\e_Ga=T,f=32' "$T_TMP/client.out" ||
		fail "kitty graphics did not reach the outer terminal through tmux"
	# tmux unwrapped it: the outer terminal never sees the passthrough envelope
	grep -q $'\ePtmux;' "$T_TMP/client.out" && fail "passthrough envelope leaked to the terminal"
	return 0
}

# ---- inline outside tmux, under script(1)'s pseudo-terminal ----

# Run imagen under a pseudo-terminal with the given environment; OUT gets what the
# terminal received (stdout and stderr).
on_pty() { # env assignments... -- imagen args...
	local envs=() q
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	q=$(printf '%q ' "$IMAGEN" "$@")
	env "${envs[@]}" SHELL=/bin/sh script -qec "$q" /dev/null </dev/null >"$T_TMP/pty.out" 2>&1
	RC=$?
	OUT=$(cat "$T_TMP/pty.out")
	ERR=""
	grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T_TMP/pty.out" &&
		fail "sanitizer finding: $OUT"
	return 0
}

test_inline_symbols_under_a_pty_below_the_path() {
	on_pty TERM=xterm-256color COLUMNS=50 -- generate --seed 1 -o out "pty fox"
	expect_rc 0
	img=$(ls "$HOME"/out/*.png)
	clean=$(tr -d '\r' <"$T_TMP/pty.out" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g')
	after=$(sed -n "\|$img\$|,\$p" <<<"$clean" | sed 1d)
	[ -n "$after" ] || fail "nothing drawn below the path:
$clean"
	[ "$(grep -c '[▀▄▌▐█▁▂▃▅▆▇▔]' <<<"$after")" -ge 4 ] || fail "no symbols picture:
$clean"
	max=$(widths <<<"$after" | sort -n | tail -1)
	[ "$max" -le 50 ] || fail "picture $max columns wide for COLUMNS=50"
	# bounded height: a square image on a tall terminal stays within 24 rows
	on_pty TERM=xterm-256color COLUMNS=200 LINES=100 -- generate --seed 1 -o tall "pty fox"
	rows=$(tr -d '\r' <"$T_TMP/pty.out" | grep -c '[▀▄▌▐█▁▂▃▅▆▇▔]')
	[ "$rows" -ge 10 ] && [ "$rows" -le 24 ] || fail "$rows rows for a square image"
	grep -qE $'\e_G|\e\\]1337|\eP[0-9;]*q' "$T_TMP/pty.out" && fail "graphics sent to xterm-256color"
	return 0
}

test_inline_graphics_protocols_by_terminal() {
	on_pty TERM=xterm-kitty -- generate --seed 2 -W 128 -H 64 -o k "kitty"
	expect_rc 0
	grep -q $'\e_Ga=T,f=32' "$T_TMP/pty.out" || fail "no kitty graphics for TERM=xterm-kitty"
	on_pty TERM=xterm-256color TERM_PROGRAM=iTerm.app -- generate --seed 2 -W 128 -H 64 -o i "iterm"
	grep -q $'\e]1337;File=inline=1' "$T_TMP/pty.out" || fail "no iTerm2 image for TERM_PROGRAM=iTerm.app"
	on_pty TERM=mlterm -- generate --seed 2 -W 128 -H 64 -o s "sixel"
	grep -qa $'\eP[0-9;]*q"' "$T_TMP/pty.out" || fail "no sixels for TERM=mlterm"
	on_pty TERM=foot -- generate --seed 2 -W 128 -H 64 -o f "foot"
	grep -qa $'\eP[0-9;]*q"' "$T_TMP/pty.out" || fail "no sixels for TERM=foot"
	grep -q $'\e_G' "$T_TMP/pty.out" && fail "kitty graphics sent to foot"
	return 0
}

test_inline_false_and_auto_rules_outside_tmux() {
	write_config "$CFG" <<<$'preview:\n  inline: false'
	on_pty TERM=xterm-256color -- generate --seed 1 -o a "nothing drawn"
	expect_rc 0
	grep -q '[▀▄▌▐█]' "$T_TMP/pty.out" && fail "drawn with inline: false"
	# on with inline: false outside tmux: one line says why, exit status unchanged
	on_pty TERM=xterm-256color -- generate --preview=on --seed 1 -o a "nothing drawn"
	expect_rc 0
	expect_contains "$OUT" "imagen: preview: preview.inline is false"
	rm -f "$CFG"
	# auto in CI or with a dumb terminal: nothing drawn
	on_pty TERM=xterm-256color CI=true -- generate --seed 1 -o b "ci"
	grep -q '[▀▄▌▐█]' "$T_TMP/pty.out" && fail "drawn in CI"
	on_pty TERM=dumb -- generate --seed 1 -o b "dumb"
	grep -q '[▀▄▌▐█]' "$T_TMP/pty.out" && fail "drawn on TERM=dumb"
	return 0
}

# Run shell text under a pseudo-terminal (IMAGEN exported); PTY gets what the terminal
# received, RC the exit status of the text.
on_pty_sh() { # env assignments... -- shell text
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	env "${envs[@]}" IMAGEN="$IMAGEN" SHELL=/bin/sh script -qec "$1" /dev/null </dev/null \
		>"$T_TMP/pty.out" 2>&1
	RC=$?
	PTY=$(cat "$T_TMP/pty.out")
	grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T_TMP/pty.out" &&
		fail "sanitizer finding: $PTY"
	return 0
}

test_inline_never_draws_into_a_pipe_or_the_json() {
	# stdout is a pipe: the picture goes to the terminal (stderr), the pipe gets the path only
	on_pty_sh TERM=xterm-256color COLUMNS=40 -- \
		'"$IMAGEN" generate --preview=on --seed 1 -o p piped | cat >"$HOME/captured"'
	expect_eq "$RC" 0 "exit status"
	expect_eq "$(cat "$HOME/captured")" "$(ls "$HOME"/p/*.png)" "what the pipe got"
	[ "$(grep -c '[▀▄▌▐█▁▂▃▅▆▇▔]' <<<"$PTY")" -ge 4 ] || fail "nothing drawn on the terminal: $PTY"
	# --json: the record exactly on stdout, the picture on the terminal
	on_pty_sh TERM=xterm-256color COLUMNS=40 -- \
		'"$IMAGEN" generate --preview=on --json --seed 1 -o p json >"$HOME/record"'
	expect_eq "$RC" 0 "exit status"
	jq -e .image "$HOME/record" >/dev/null || fail "stdout is not just the JSON record: $(cat "$HOME/record")"
	[ "$(grep -c '[▀▄▌▐█▁▂▃▅▆▇▔]' <<<"$PTY")" -ge 4 ] || fail "nothing drawn with --json: $PTY"
	# both streams captured: the controlling terminal still shows it
	on_pty_sh TERM=xterm-256color COLUMNS=40 -- \
		'"$IMAGEN" show "$HOME"/p/*piped*.png >"$HOME/out" 2>"$HOME/err"'
	expect_eq "$RC" 0 "exit status"
	expect_eq "$(cat "$HOME/out" "$HOME/err")" "" "captured streams"
	[ "$(grep -c '[▀▄▌▐█▁▂▃▅▆▇▔]' <<<"$PTY")" -ge 4 ] || fail "nothing drawn on /dev/tty: $PTY"
	# no terminal at all (these tests run without one): one line says so, nothing drawn
	TERM=xterm-256color im generate --preview=on --seed 1 -o p "nowhere"
	expect_rc 0
	expect_eq "$(grep -c . <<<"$OUT")" 1 "stdout: the path only"
	expect_one_error_line
	expect_contains "$ERR" "imagen: preview: cannot draw inline: no terminal to draw on"
	TERM=xterm-256color im generate --preview=on --json --seed 1 -o p "json"
	jq -e .image <<<"$OUT" >/dev/null || fail "stdout is not just the JSON record: $OUT"
	expect_contains "$ERR" "imagen: preview: cannot draw inline: stdout carries the --json record"
}

test_dumb_terminal_gets_no_escape_sequences() {
	im generate --seed 6 -W 128 -H 96 -o s "dumb fox"
	printf '%s\n' "$OUT" >"$HOME/img.name"
	on_pty_sh TERM=dumb COLUMNS=40 -- '"$IMAGEN" show "$(cat "$HOME/img.name")"'
	expect_eq "$RC" 0 "exit status"
	grep -q $'\e' "$T_TMP/pty.out" && fail "escape sequences on TERM=dumb: $(od -c "$T_TMP/pty.out" | head)"
	[ "$(grep -c '[^[:space:]]' <<<"$PTY")" -ge 4 ] || fail "nothing drawn on TERM=dumb: $PTY"
	# characters only: plain ASCII
	LC_ALL=C grep -q '[^[:print:][:space:]]' "$T_TMP/pty.out" && fail "non-ASCII drawing: $PTY"
	# auto on a dumb terminal stays quiet, as before
	on_pty TERM=dumb -- generate --seed 1 -o b "dumb"
	expect_eq "$(grep -c . <<<"$OUT")" 1 "auto on TERM=dumb: the path only"
	return 0
}

test_show_v_escapes_what_the_png_carries() {
	python3 - "$HOME/evil.png" <<'PY'
import sys, struct, zlib, json
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
evil = "\x1b]0;PWNED\x07\x1b[2J"
side = {"prompt": "fox " + evil, "seed": 1, "width": 8, "height": 8}
raw = b"".join(b"\0" + b"\x80\x40\x20" * 8 for _ in range(8))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
png += chunk(b"tEXt", b"imagen\0" + json.dumps(side).encode())
png += chunk(b"tEXt", b"Comment\0" + b"hi\x9b" + b"31m " + evil.encode("latin-1"))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
	# TERM=dumb: the drawing has no escape codes, so any ESC on the terminal came from the PNG
	on_pty_sh TERM=dumb COLUMNS=40 -- '"$IMAGEN" -v -v show "$HOME/evil.png"'
	expect_eq "$RC" 0 "exit status"
	expect_contains "$PTY" 'fox \x1b]0;PWNED\x07\x1b[2J' "escaped prompt"
	expect_contains "$PTY" 'hi\u009b31m \x1b]0;PWNED' "escaped text chunk"
	LC_ALL=C grep -qP '\x1b|\x07|\xc2[\x80-\x9f]' "$T_TMP/pty.out" &&
		fail "control characters reached the terminal: $(od -c "$T_TMP/pty.out" | head -20)"
	return 0
}

# ---- imagen show ----

test_show_draws_existing_images_and_prints_metadata_with_v() {
	im generate --seed 6 -W 128 -H 96 -o s "shown fox"
	img=$OUT
	before=$(sha256sum "$img")
	on_pty TERM=xterm-256color COLUMNS=40 -- show "$img"
	expect_rc 0
	[ "$(grep -c '[▀▄▌▐█▁▂▃▅▆▇▔]' <<<"$OUT")" -ge 4 ] || fail "show drew nothing"
	expect_not_contains "$OUT" "imagen:" "messages"
	on_pty TERM=xterm-256color COLUMNS=40 -- -v show "$img"
	expect_rc 0
	expect_match "$(head -1 <<<"$OUT" | tr -d '\r')" "^file +$img \(128x96, "
	expect_match "$OUT" "prompt +shown fox"
	[ "$(grep -c '[▀▄▌▐█▁▂▃▅▆▇▔]' <<<"$OUT")" -ge 4 ] || fail "show -v drew nothing"
	expect_eq "$(sha256sum "$img")" "$before" "the image is untouched"
	im show "$img" nope.png
	expect_rc 1
	expect_eq "$(head -1 <<<"$ERR")" "imagen: show: nope.png: No such file or directory"
	echo "not a png" >bad.png
	on_pty TERM=xterm-256color -- show bad.png
	expect_rc 1
	expect_contains "$OUT" "imagen: preview: bad.png: not a PNG image"
	im show
	expect_rc 2
	expect_one_error_line
}

test_show_inside_tmux_opens_a_window_per_image() {
	tmux_start
	fake_viewer
	im generate --seed 1 -o s "first"
	a=$OUT
	im generate --seed 2 -o s "second"
	b=$OUT
	in_pane '"$IMAGEN" show s/*.png >"$T_TMP/out" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_eq "$ERR" "" stderr
	for i in $(seq 30); do
		[ "$(wc -l <"$T_TMP/viewer.log" 2>/dev/null)" = 2 ] && break
		sleep 0.1
	done
	expect_eq "$(sort "$T_TMP/viewer.log")" "$(printf '%s\n' "$a" "$b" | sort)" "viewer arguments"
	expect_eq "$(tx list-windows -t t -F '#{window_name}' | sed 1d | sort)" \
		"$(basename "$a" .png; basename "$b" .png)" "window names"
}

test_show_window_name_keeps_hashes_tmux_would_expand() {
	tmux_start
	fake_viewer
	im generate --seed 1 -o s "hash"
	cp "$OUT" "s/shot #S #{session_name} ##.png"
	in_pane '"$IMAGEN" show "s/shot #S #{session_name} ##.png" >"$T_TMP/out" 2>"$T_TMP/pane.err"'
	expect_rc 0
	expect_eq "$ERR" "" stderr
	wait_for_file "$T_TMP/viewer.log" || fail "the viewer never ran"
	expect_eq "$(cat "$T_TMP/viewer.log")" "$HOME/s/shot #S #{session_name} ##.png" "viewer arguments"
	expect_eq "$(tx list-windows -t t -F '#{window_name}' | sed 1d)" 'shot #S #{session_name} ##' \
		"window name"
}

# valgrind cannot run on top of AddressSanitizer: only for the plain build
[[ ${BUILD:-build} == *san* ]] || test_inline_drawing_under_memcheck() {
	im generate --seed 6 -W 200 -H 100 -o v "memcheck"
	# under a pseudo-terminal, stdout piped: the drawing goes to the terminal (stderr)
	for term in xterm-256color xterm-kitty dumb; do
		rm -f "$T_TMP/vg.err"
		on_pty_sh TERM=$term COLUMNS=40 -- "{ valgrind -q --error-exitcode=97 --leak-check=full \
			--errors-for-leak-kinds=definite --log-file='$T_TMP/vg.err' \"\$IMAGEN\" show '$OUT'; \
			echo \$? >'$T_TMP/vg.rc'; } | cat"
		[ "$(cat "$T_TMP/vg.rc")" = 0 ] || fail "valgrind ($term): rc $(cat "$T_TMP/vg.rc"): $(cat "$T_TMP/vg.err")"
		[ "$(wc -c <"$T_TMP/pty.out")" -ge 200 ] || fail "nothing drawn under memcheck ($term): $PTY"
	done
	return 0
}

run_tests
