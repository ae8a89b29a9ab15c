-module(main).
-export([main/1]).

main(Args) ->
    Name = case io:get_line("") of
               eof -> "";
               Line -> string:trim(Line)
           end,
    io:format("Hello, ~ts!~n", [Name]),
    case Args of
        [] -> ok;
        _ ->
            [io:format("arg: ~ts~n", [A]) || A <- Args],
            io:format("~ts~n", ["Grüße, 世界 ✓"]),
            halt(3)
    end.
