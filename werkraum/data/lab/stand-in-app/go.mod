// The lab's STAND-IN for the tenants' apps (werkraum/lab/stand_in.py): no dependencies.
module werkraum.example/stand-in-app

go 1.22
