//! `#[derive(Trace)]` for maat-gc.
//!
//! Generates `unsafe impl Trace` that traces every field of a struct or of
//! the active enum variant (so no reference can be forgotten), with
//! `NEEDS_TRACE` true only if some field needs it.
//!
//! Because objects are freed in no particular order, a traced type must not
//! dereference its `Gc` fields in `Drop`. The derive therefore refuses types
//! that implement `Drop` (the generated code conflicts with such an impl),
//! unless the type is marked `#[trace(unsafe_drop)]`, by which its author
//! asserts that its `Drop` touches no `Gc`.
//!
//! A struct may mark one field `#[trace(parts)]`: the object is then traced
//! in parts through that field's `Trace::trace_part` (for a large `Vec`),
//! after all other fields.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, Index, parse_macro_input};

/// Derives `maat_gc::Trace`; see the crate documentation.
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn has_flag(attrs: &[syn::Attribute], flag: &str) -> syn::Result<bool> {
    let mut found = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("trace")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(flag) {
                found = true;
                Ok(())
            } else {
                Err(meta.error(format!("unknown `trace` option (expected `{flag}`)")))
            }
        })?;
    }
    Ok(found)
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let heap_body = match &input.data {
        Data::Struct(s) => {
            let places: Vec<Tokens> = s.fields.iter().enumerate().map(|(i, f)| access(i, f)).collect();
            quote! { 0 #(+ ::maat_gc::Trace::heap_size(&#places))* }
        }
        // Enums: the owned sizes of their variants' fields are not summed.
        _ => quote! { 0 },
    };
    let (trace_body, needs, parts) = match &input.data {
        Data::Struct(s) => struct_body(&s.fields)?,
        Data::Enum(e) => enum_body(e)?,
        Data::Union(u) => return Err(syn::Error::new_spanned(u.union_token, "`Trace` cannot be derived for unions")),
    };
    let no_drop = if has_flag(&input.attrs, "unsafe_drop")? {
        quote!()
    } else {
        let guard = format_ident!("__MaatTraceMustNotImplDrop{}", name);
        quote! {
            #[allow(non_camel_case_types, dead_code)]
            trait #guard {}
            #[allow(drop_bounds)]
            impl<T: ::core::ops::Drop> #guard for T {}
            impl #impl_generics #guard for #name #ty_generics #where_clause {}
        }
    };
    Ok(quote! {
        // SAFETY: generated to trace every field.
        unsafe impl #impl_generics ::maat_gc::Trace for #name #ty_generics #where_clause {
            const NEEDS_TRACE: bool = false #(|| <#needs as ::maat_gc::Trace>::NEEDS_TRACE)*;
            #[inline]
            fn trace(&self, tracer: &mut ::maat_gc::Tracer) {
                #trace_body
            }
            #parts
            fn heap_size(&self) -> usize {
                #heap_body
            }
        }
        #no_drop
    })
}

/// A field accessed through `self`.
fn access(i: usize, field: &syn::Field) -> Tokens {
    match &field.ident {
        Some(id) => quote!(self.#id),
        None => {
            let index = Index::from(i);
            quote!(self.#index)
        }
    }
}

fn struct_body(fields: &Fields) -> syn::Result<(Tokens, Vec<syn::Type>, Tokens)> {
    let mut traces = Vec::new();
    let mut parts = None;
    for (i, field) in fields.iter().enumerate() {
        let place = access(i, field);
        if has_flag(&field.attrs, "parts")? {
            if parts.is_some() {
                return Err(syn::Error::new_spanned(field, "only one field can be traced in parts"));
            }
            parts = Some(place);
        } else {
            traces.push(place);
        }
    }
    let needs = fields.iter().map(|f| f.ty.clone()).collect();
    let Some(large) = parts else {
        return Ok((quote! { #(::maat_gc::Trace::trace(&#traces, tracer);)* }, needs, quote!()));
    };
    let body = quote! {
        #(::maat_gc::Trace::trace(&#traces, tracer);)*
        ::maat_gc::Trace::trace(&#large, tracer);
    };
    let part = quote! {
        fn trace_part(&self, tracer: &mut ::maat_gc::Tracer, from: usize) -> ::core::option::Option<usize> {
            if from == 0 {
                #(::maat_gc::Trace::trace(&#traces, tracer);)*
            }
            ::maat_gc::Trace::trace_part(&#large, tracer, from)
        }
    };
    Ok((body, needs, part))
}

fn enum_body(data: &syn::DataEnum) -> syn::Result<(Tokens, Vec<syn::Type>, Tokens)> {
    let mut arms = Vec::new();
    let mut needs = Vec::new();
    for variant in &data.variants {
        let v = &variant.ident;
        let bindings: Vec<_> = (0..variant.fields.len()).map(|i| format_ident!("__f{i}")).collect();
        let pattern = match &variant.fields {
            Fields::Named(f) => {
                let names = f.named.iter().map(|f| f.ident.as_ref().expect("named field"));
                quote!(Self::#v { #(#names: #bindings),* })
            }
            Fields::Unnamed(_) => quote!(Self::#v(#(#bindings),*)),
            Fields::Unit => quote!(Self::#v),
        };
        arms.push(quote!(#pattern => { #(::maat_gc::Trace::trace(#bindings, tracer);)* }));
        needs.extend(variant.fields.iter().map(|f| f.ty.clone()));
    }
    let body = if arms.is_empty() {
        quote!()
    } else {
        quote! { match self { #(#arms)* } }
    };
    Ok((body, needs, quote!()))
}
