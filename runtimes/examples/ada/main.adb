with Ada.Text_IO;      use Ada.Text_IO;
with Ada.Command_Line; use Ada.Command_Line;

procedure Main is
   Line : String (1 .. 256);
   Last : Natural := 0;
begin
   if not End_Of_File then
      Get_Line (Line, Last);
   end if;
   Put_Line ("Hello, " & Line (1 .. Last) & "!");
   if Argument_Count > 0 then
      for I in 1 .. Argument_Count loop
         Put_Line ("arg: " & Argument (I));
      end loop;
      Put_Line ("Grüße, 世界 ✓");
      Set_Exit_Status (3);
   end if;
end Main;
