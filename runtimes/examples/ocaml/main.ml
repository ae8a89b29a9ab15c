let () =
  let name = try String.trim (input_line stdin) with End_of_file -> "" in
  Printf.printf "Hello, %s!\n" name;
  let args = List.tl (Array.to_list Sys.argv) in
  if args <> [] then begin
    List.iter (fun a -> Printf.printf "arg: %s\n" a) args;
    print_endline "Grüße, 世界 ✓";
    exit 3
  end
