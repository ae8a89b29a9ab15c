program main
  implicit none
  character(len=256) :: name, arg
  integer :: i, ios

  name = ''
  read (*, '(A)', iostat=ios) name
  print '(A)', 'Hello, ' // trim(name) // '!'
  if (command_argument_count() > 0) then
    do i = 1, command_argument_count()
      call get_command_argument(i, arg)
      print '(A)', 'arg: ' // trim(arg)
    end do
    print '(A)', 'Grüße, 世界 ✓'
    call exit(3)
  end if
end program main
