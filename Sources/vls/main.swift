print("vls")
