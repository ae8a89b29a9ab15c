module throwbox/launcher

go 1.22
