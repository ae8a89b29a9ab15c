:- initialization(main, main).

main(Args) :-
    read_line_to_string(user_input, Line),
    ( Line == end_of_file -> Name = "" ; split_string(Line, "", " \r", [Name]) ),
    format("Hello, ~w!~n", [Name]),
    (   Args == []
    ->  true
    ;   forall(member(A, Args), format("arg: ~w~n", [A])),
        format("Grüße, 世界 ✓~n"),
        halt(3)
    ).
