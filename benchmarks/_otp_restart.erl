%% Crash-to-restart latency of Erlang/OTP's supervisor with its default logger
%% (peer side of benchmarks/bench_restart.py; run by _peers.otp_restarts).
%%
%% A one_for_one supervisor restarts a permanent child that raises at once.
%% The child is a proc_lib process, so each crash is logged as OTP logs it by
%% default: a crash report from the dying process and a supervisor report
%% (child_terminated) from the supervisor, both at error level, formatted by
%% the default handler (logger_std_h, standard_io; the caller sends that to
%% /dev/null). Latency of one restart: from a stamp taken just before the
%% child raises to the first statement of its next incarnation, as in the
%% trio sides. The restart limit is raised out of the way (N + 16 in 3600 s),
%% as for our supervisor (OTP's default period, 5 s, for both).
%%
%% LOGGING is one of
%%   default    the logger as OTP configures it: the default handler formats
%%              every event in the logging process, and writes at most 500 a
%%              second (its burst limit drops the rest);
%%   unlimited  the same with the burst limit off: every event written;
%%   quiet      the primary logger level at none: nothing formatted.
%%
%% Usage: erl -noshell -pa DIR -run _otp_restart main N LOGGING OUTFILE
%% writes {"latencies_ns": [...], "seconds": S, "otp": "25", "erts": "..."}.
-module('_otp_restart').
-behaviour(supervisor).
-export([main/1, init/1, start_child/3]).

main([NText, Logging, Out]) ->
    N = list_to_integer(NText),
    ok = logging(Logging),
    Stamps = ets:new(stamps, [public, duplicate_bag, {write_concurrency, true}]),
    Count = counters:new(1, []),
    Begin = erlang:monotonic_time(nanosecond),
    {ok, Sup} = supervisor:start_link(?MODULE, {N, Stamps, Count, self()}),
    receive done -> ok end,
    unlink(Sup),
    exit(Sup, shutdown),
    Starts = lists:sort([T || {start, T} <- ets:lookup(Stamps, start)]),
    Crashes = lists:sort([T || {crash, T} <- ets:lookup(Stamps, crash)]),
    Latencies = [S - C || {C, S} <- lists:zip(Crashes, tl(Starts))],
    Seconds = (lists:last(Starts) - Begin) / 1.0e9,
    Json = io_lib:format(
        "{\"latencies_ns\": [~s], \"seconds\": ~f, \"otp\": \"~s\", \"erts\": \"~s\"}~n",
        [lists:join(",", [integer_to_list(L) || L <- Latencies]), Seconds,
         erlang:system_info(otp_release), erlang:system_info(version)]),
    ok = file:write_file(Out, Json),
    halt(0).

logging("default") ->
    ok;
logging("unlimited") ->
    logger:update_handler_config(default, config, #{burst_limit_enable => false});
logging("quiet") ->
    logger:set_primary_config(level, none).

init({N, Stamps, Count, Main}) ->
    Flags = #{strategy => one_for_one, intensity => N + 16, period => 5},
    Child = #{id => crasher,
              start => {?MODULE, start_child, [N, {Stamps, Count}, Main]},
              restart => permanent},
    {ok, {Flags, [Child]}}.

start_child(N, Shared, Main) ->
    {ok, proc_lib:spawn_link(fun() -> incarnation(N, Shared, Main) end)}.

incarnation(N, {Stamps, Count}, Main) ->
    Started = erlang:monotonic_time(nanosecond),  % a restart ends here
    counters:add(Count, 1, 1),
    K = counters:get(Count, 1),
    ets:insert(Stamps, {start, Started}),
    if
        K > N ->
            Main ! done,
            receive stop -> ok end;
        true ->
            ets:insert(Stamps, {crash, erlang:monotonic_time(nanosecond)}),
            erlang:error(boom)
    end.
