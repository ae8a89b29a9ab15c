program Main;

var
  name: string;
  i: integer;
begin
  name := '';
  if not eof then
    readln(name);
  writeln('Hello, ', name, '!');
  if ParamCount > 0 then
  begin
    for i := 1 to ParamCount do
      writeln('arg: ', ParamStr(i));
    writeln('Grüße, 世界 ✓');
    halt(3);
  end;
end.
